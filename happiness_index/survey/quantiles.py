"""Design-based quantiles with Woodruff, score and replicate intervals (R's ``svyquantile``).

:func:`estimate_quantiles` is the engine behind ``design.quantile(...)`` on
:class:`~happiness_index.SurveyDesign`, :class:`~happiness_index.ReplicateDesign`,
their subsets and ``by()`` domain views. It follows R ``survey`` 4.1.1:

Quantile rules (``rule``)
-------------------------
With the observations sorted (zero weights dropped), cumulative weights ``C_i`` and
total ``W``, let ``pos`` be the last ``i`` with ``C_i <= p W`` and ``wlow = p - C_pos/W``:

* ``"math"`` (R's default ``qrule="math"``): ``x_pos`` if ``wlow == 0`` else ``x_{pos+1}``,
  i.e. the smallest value whose weighted CDF is at least ``p`` (no interpolation);
* ``"school"``: ``(x_pos + x_{pos+1}) / 2`` if ``wlow == 0`` else ``x_{pos+1}``;
* ``"hf7"``: linear interpolation of ``x`` on ``p_k = C_{k-1} / C_{n-1}`` (a weighted
  Hyndman & Fan type 7), clamped at the ends.

Cumulative weights are accumulated in extended precision as R does, so the exact
comparison ``wlow == 0`` takes the same branch as R.

Intervals
---------
* Woodruff (1952), ``ci_method="woodruff"``: the CDF at the estimate, ``F = mean(x <= q)``,
  gets a design-based interval on the CDF scale (``interval_type``: ``"mean"`` Wald with
  t on ``df``; ``"xlogit"`` on the logit scale; ``"asin"``; ``"beta"`` Korn–Graubard), and
  the limits are mapped back through the same quantile rule. A limit outside [0, 1] gives NaN.
* Score (Francisco & Fuller 1991), ``ci_method="score"`` (Taylor designs only): the
  limits invert the test of ``F(θ) = p``, ``(p - F(θ)) / se(F(θ)) = ±t``; as R's
  ``ffullerCI`` the root ``θ`` is turned into ``mean(x <= θ)`` (unweighted) and mapped
  through the rule.
* ``interval_type="quantile"`` (replicate designs only): the quantile is recomputed with
  every replicate weight and ``se`` comes from the replicate variance formula;
  the interval is ``q ± t·se``.

In every case ``se`` is the interval width divided by ``2 t`` (R's convention), with
``t`` the quantile on ``df`` degrees of freedom: the design's (domain's) df after
removing missing values, as R's ``svyquantile``.

References
----------
Woodruff, R. S. (1952). Confidence intervals for medians and other position measures.
*JASA* 47, 635–646.
Francisco, C. A. & Fuller, W. A. (1991). Quantile estimation with a complex survey design.
*Annals of Statistics* 19, 454–469.
Hyndman, R. J. & Fan, Y. (1996). Sample quantiles in statistical packages. *Am. Stat.* 50, 361–365.
Lumley, T. (2010). *Complex Surveys: A Guide to Analysis Using R*, §2.4. Wiley.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy import special  # scipy.stats is imported only by the Korn-Graubard interval

from ..errors import EstimationError, HappinessIndexWarning
from .estimators import EstimateTable, check_df, make_estimate, t_quantile
from .variance import Statistic, warn_dropped_domains

__all__ = ["estimate_quantiles", "weighted_quantile", "QUANTILE_RULES", "QUANTILE_INTERVALS"]

QUANTILE_RULES = ("math", "school", "hf7")
QUANTILE_INTERVALS = ("mean", "beta", "xlogit", "asin", "quantile")


# ---------------------------------------------------------------------------
# quantile rules on sorted data
# ---------------------------------------------------------------------------


def _cumweights(w_sorted: np.ndarray) -> np.ndarray:
    """Cumulative sums accumulated in extended precision, rounded to double (as R's cumsum)."""
    return np.cumsum(np.asarray(w_sorted, dtype=np.longdouble), axis=0).astype(np.float64)


def _rule_sorted(xs: np.ndarray, cw: np.ndarray, p: np.ndarray, rule: str) -> np.ndarray:
    """Quantiles of sorted values ``xs`` (all weights > 0) with cumulative weights ``cw``."""
    p = np.atleast_1d(np.asarray(p, dtype=float))
    n = len(xs)
    if n == 0:
        return np.full(p.shape, np.nan)
    W = cw[-1]
    if rule == "hf7":
        if n == 1:
            return np.full(p.shape, xs[0])
        pk = np.concatenate([[0.0], cw[:-1]]) / cw[-2]
        return np.interp(p, pk, xs)
    k = np.searchsorted(cw, p * W, side="right")  # number of C_i <= pW
    pos = np.maximum(k - 1, 0)
    nxt = np.where(k == 0, 0, np.minimum(pos + 1, n - 1))
    wlow = np.where(k == 0, 1.0, p - cw[pos] / W)
    if rule == "math":
        return np.where(wlow == 0, xs[pos], xs[nxt])
    if rule == "school":
        return np.where(wlow == 0, (xs[pos] + xs[nxt]) / 2, xs[nxt])
    raise AssertionError(rule)  # pragma: no cover


def weighted_quantile(x, w, p, rule: str = "math") -> np.ndarray:
    """Weighted quantile(s) of ``x`` with weights ``w`` under one of R's ``qrule``s.

    Parameters
    ----------
    x, w : array_like, shape (n,)
        Values and non-negative weights (zero weights are ignored).
    p : float or array_like
        Probabilities in [0, 1].
    rule : {"math", "school", "hf7"}
        See the module notes.

    Returns
    -------
    numpy.ndarray
        One quantile per ``p``.

    Raises
    ------
    EstimationError
        Unknown rule; ``x``/``w`` of different lengths, empty, not numbers, NaN or
        infinite; negative weights or all weights zero; ``p`` outside [0, 1].

    References
    ----------
    Hyndman, R. J. & Fan, Y. (1996). Sample quantiles in statistical packages.
    *The American Statistician* 50, 361-365.
    """
    _check_rule(rule)
    try:
        x = np.asarray(x, dtype=float)
        w = np.asarray(w, dtype=float)
        pa = np.atleast_1d(np.asarray(p, dtype=float))
    except (TypeError, ValueError):
        raise EstimationError("weighted_quantile needs numeric x, w and p (arrays of numbers)") from None
    if x.ndim != 1 or x.shape != w.shape:
        raise EstimationError(f"x and w must be 1-d arrays of the same length; got shapes {x.shape} and {w.shape}")
    if len(x) == 0:
        raise EstimationError("weighted_quantile of an empty array: there are no values")
    for nm, a in (("x", x), ("w", w)):
        if not np.isfinite(a).all():
            bad = np.flatnonzero(~np.isfinite(a))
            raise EstimationError(
                f"{nm} has missing or infinite values at positions {bad[:10].tolist()}; drop or impute them first"
            )
    if (w < 0).any():
        raise EstimationError(f"weights must be >= 0; negative at positions {np.flatnonzero(w < 0)[:10].tolist()}")
    if not (w > 0).any():
        raise EstimationError("all weights are zero: the weighted quantile is undefined")
    if not np.all((pa >= 0) & (pa <= 1)):
        raise EstimationError(f"probabilities must be in [0, 1]; got {pa.tolist()}")
    return _wq(x, w, pa, rule)


def _wq(x: np.ndarray, w: np.ndarray, p, rule: str) -> np.ndarray:
    """weighted_quantile without the input checks (internal; NaN when no weight is non-zero)."""
    keep = w != 0
    x, w = x[keep], w[keep]
    o = np.argsort(x, kind="stable")
    return _rule_sorted(x[o], _cumweights(w[o]), np.atleast_1d(p), rule)


def _check_rule(rule):
    if rule not in QUANTILE_RULES:
        raise EstimationError(f"unknown quantile rule {rule!r}; use one of {QUANTILE_RULES} (R's qrule)")


def _rep_rule(xs: np.ndarray, Wr: np.ndarray, p: float, rule: str) -> np.ndarray:
    """The quantile for every replicate weight column of ``Wr`` (n × R), xs sorted."""
    n, R = Wr.shape
    kept = Wr != 0
    cw = _cumweights(Wr)  # (n, R)
    W = cw[-1]
    rows = np.arange(n)[:, None]
    if rule == "hf7":
        return _rep_hf7(xs, Wr, kept, cw, rows, p)
    le = (cw <= p * W[None, :]) & kept
    pos = np.where(le, rows, -1).max(axis=0)  # last kept row with C <= pW
    # next kept row strictly after pos
    nk = np.where(kept, rows, n)
    nk = np.minimum.accumulate(nk[::-1], axis=0)[::-1]  # first kept row at or after i
    nk_after = np.vstack([nk[1:], np.full((1, R), n)])
    first_kept = nk[0]
    cols = np.arange(R)
    pos_c = np.maximum(pos, 0)
    nxt = np.where(pos >= 0, nk_after[pos_c, cols], first_kept)
    nxt = np.where(nxt >= n, pos_c, nxt)
    wlow = np.where(pos >= 0, p - cw[pos_c, cols] / W, 1.0)
    lowv = xs[np.where(pos >= 0, pos_c, first_kept)]
    upv = xs[np.minimum(nxt, n - 1)]
    if rule == "math":
        return np.where(wlow == 0, lowv, upv)
    return np.where(wlow == 0, (lowv + upv) / 2, upv)


def _rep_hf7(xs, Wr, kept, cw, rows, p):
    """The hf7 rule of :func:`_rule_sorted` for every column at once (the same floating-point
    operations as ``np.interp`` on each column's rows with non-zero weight; NaN with none)."""
    n, R = Wr.shape
    cols = np.arange(R)
    cwe = np.vstack([np.zeros((1, R)), cw[:-1]])  # weight of the rows before (exact: zeros add nothing)
    last = np.maximum(np.where(kept, rows, -1).max(axis=0), 0)  # last row with weight
    with np.errstate(divide="ignore", invalid="ignore"):
        pk = cwe / cwe[last, cols][None, :]  # plotting positions 0 .. 1 of the weighted rows
    i = np.maximum(np.where((pk <= p) & kept, rows, -1).max(axis=0), 0)
    nk = np.minimum.accumulate(np.where(kept, rows, n)[::-1], axis=0)[::-1]  # first weighted row at/after
    nxt = np.vstack([nk[1:], np.full((1, R), n)])[i, cols]
    j = np.where(nxt >= n, i, nxt)
    pi, pj = pk[i, cols], pk[j, cols]
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(j > i, (xs[j] - xs[i]) / (pj - pi), 0.0)
    out = np.where(pi == p, xs[i], slope * (p - pi) + xs[i])
    nkept = kept.sum(axis=0)
    out = np.where(nkept == 1, xs[last], out)
    return np.where(nkept == 0, np.nan, out)


# ---------------------------------------------------------------------------
# CDF-scale intervals (Woodruff)
# ---------------------------------------------------------------------------


def _cdf_interval(F, se, level, df, itype, n_rows, degf):
    """Interval for the CDF value F with standard error se (R's woodruffCI methods)."""
    q = t_quantile(level, df)
    if not np.isfinite(q) or not np.isfinite(se):
        return (np.nan, np.nan)
    if itype == "mean":
        return (F - q * se, F + q * se)
    if itype == "xlogit":
        if not 0 < F < 1:
            return (np.nan, np.nan)
        eta = math.log(F / (1 - F))
        s = se / (F * (1 - F))
        return (float(special.expit(eta - q * s)), float(special.expit(eta + q * s)))
    if itype == "asin":
        if not 0 < F < 1:
            return (np.nan, np.nan)
        a = math.asin(math.sqrt(F))
        s = se / (2 * math.sqrt(F * (1 - F)))
        return (math.sin(a - q * s) ** 2, math.sin(a + q * s) ** 2)
    if itype == "beta":
        alpha = 1 - level
        if not (se > 0 and n_rows > 1 and degf > 0):
            return (np.nan, np.nan)
        from scipy import stats

        neff = F * (1 - F) / se**2
        neff *= (stats.t.ppf(alpha / 2, n_rows - 1) / stats.t.ppf(alpha / 2, degf)) ** 2
        lo = stats.beta.ppf(alpha / 2, neff * F, neff * (1 - F) + 1) if F > 0 else 0.0
        hi = stats.beta.ppf(1 - alpha / 2, neff * F + 1, neff * (1 - F)) if F < 1 else 1.0
        return (float(lo), float(hi))
    raise AssertionError(itype)  # pragma: no cover


# ---------------------------------------------------------------------------
# the estimator
# ---------------------------------------------------------------------------


class _DomainData:
    """Sorted values and cumulative weights of one domain."""

    def __init__(self, x, w, rows):
        keep = w != 0
        o = np.argsort(x[keep], kind="stable")
        self.rows = rows[keep][o]
        self.xs = x[keep][o]
        self.ws = w[keep][o]
        self.cw = _cumweights(self.ws)
        self.x_all = x  # all domain rows (zero weights included), for the score rule

    def q(self, p, rule):
        return _rule_sorted(self.xs, self.cw, np.atleast_1d(p), rule)


def estimate_quantiles(
    design,
    x: str,
    p=0.5,
    rule: str = "math",
    ci_method: str = "woodruff",
    na_rm: bool = False,
    level: float = 0.95,
    df: float | None = None,
    interval_type: str = "mean",
):
    """Quantiles of a numeric column with design-based intervals (see the module notes).

    Parameters
    ----------
    design : SurveyDesign, ReplicateDesign, a subset of either, or a ``by()`` view
        Where to estimate.
    x : str
        Numeric column.
    p : float or sequence of float
        Probabilities in [0, 1].
    rule : {"math", "school", "hf7"}, default "math"
        Quantile rule (R's ``qrule``).
    ci_method : {"woodruff", "score"}, default "woodruff"
        Interval construction; "score" needs a Taylor design.
    na_rm : bool, default False
        Missing values: error (False) or out of the domain (True).
    level : float, default 0.95
        Confidence level.
    df : float, optional
        Degrees of freedom of the t quantile; default the design's (domain's) df after
        removing missing values. ``math.inf`` gives Normal quantiles.
    interval_type : {"mean", "beta", "xlogit", "asin", "quantile"}, default "mean"
        CDF-scale interval for Woodruff; "quantile" (replicate designs) uses the
        replicate variance of the quantile itself. On replicate designs "beta",
        "xlogit" and "asin" give the "mean" interval, as R survey 4.1.1 does (its
        ``svyquantile.svyrep.design`` does not pass ``interval.type`` on).

    Returns
    -------
    Estimate
        One column, one ``p``, no domains.
    EstimateTable
        Otherwise; rows labelled by ``p`` (``"0.25"``) and/or the domain. Quantiles are
        not jointly linearised: the covariance matrix is diagonal (NaN off the
        diagonal) except for ``interval_type="quantile"``, whose replicates give the
        full covariance and let contrasts be re-evaluated replicate by replicate.

    Raises
    ------
    EstimationError
        Unknown rule or interval type, ``p`` outside [0, 1], a score interval on a
        replicate design, a "quantile" interval on a Taylor design, a non-numeric or
        missing-valued column (without ``na_rm``), an empty domain.
    """
    is_rep, cdf_type = _check_quantile_options(design, x, rule, ci_method, interval_type)
    single_p = not isinstance(p, (list, tuple, np.ndarray, pd.Series))
    ps = np.atleast_1d(np.asarray(p, dtype=float))
    if not np.all((ps >= 0) & (ps <= 1)):
        raise EstimationError(f"quantile probabilities must be in [0, 1]; got {ps.tolist()} (write 0.5 for the median)")
    if df is not None:
        df = check_df(df)
        if not df > 0:
            raise EstimationError(f"df must be positive (math.inf for Normal quantiles), got {df!r}")
    xv, dom, dom_rows, counts, key_table, D = _quantile_domains(design, x, na_rm)
    w = design.weights.to_numpy()
    # rows of each domain in row order, from one stable sort (not D boolean scans of n rows)
    order = np.argsort(dom, kind="stable")
    bounds = np.searchsorted(dom[order], np.arange(D + 1))
    doms = [_DomainData(xv[r], w[r], r) for r in (order[bounds[d] : bounds[d + 1]] for d in range(D))]
    qhat = np.array([dd.q(ps, rule) for dd in doms])  # (D, P)
    # CDF at the estimate, F = mean(x <= qhat), with its design SE: one engine call
    P = len(ps)
    n = len(xv)
    thr = np.zeros((n, P))
    sel = dom >= 0
    thr[sel] = qhat[dom[sel]]
    Ycdf = np.column_stack([(xv[:, None] <= thr).astype(float), np.ones(n)])
    res = design.estimate_statistic(
        Statistic([f"F{j}" for j in range(P)], Ycdf, np.arange(P), np.full(P, P), "mean", [x]), dom, D
    )
    rep_q = Vq = None
    if interval_type == "quantile":
        rep_q = _replicate_quantiles(design, xv, dom, D, ps, rule)
        Vq = design.replicate_vcov(rep_q, qhat.reshape(-1))
    opts = dict(
        x=x,
        rule=rule,
        ci_method=ci_method,
        interval_type=interval_type,
        cdf_type=cdf_type,
        level=level,
        df=df,
        keyed=key_table is not None,
    )
    estimates, labels, key_rows, nan_reasons = [], [], [], []
    for d, dd in enumerate(doms):
        n_rows = int(np.sum(dom_rows == d))
        kd = key_table.iloc[d].to_dict() if key_table is not None else None
        for j, pj in enumerate(ps):
            if interval_type == "quantile":
                interval = _replicate_interval(float(qhat[d, j]), float(Vq[d * P + j, d * P + j]))
            elif ci_method == "score":
                interval = _score_interval_fn(design, xv, dom, d, dd, float(pj), rule, dom_rows)
            else:
                interval = _woodruff_interval(
                    float(res.theta[d, j]), float(res.var[d, j]), dd, rule, cdf_type, n_rows, float(res.df[d])
                )
            est, label, row, why = _quantile_estimate(
                design,
                opts,
                float(pj),
                float(qhat[d, j]),
                interval,
                float(res.df[d]),
                int(counts[d]),
                P,
                kd,
                cdf=(float(res.theta[d, j]), float(res.var[d, j]), n_rows),
            )
            if why:
                nan_reasons.append(f"{est.name}: {why}")
            estimates.append(est)
            labels.append(label)
            key_rows.append(row)
    _warn_no_interval(nan_reasons)
    if single_p and key_table is None:
        return estimates[0]
    if rep_q is not None:
        vcov, reps, rep_var = Vq, rep_q, design.replicate_vcov
    else:
        vcov = np.full((len(estimates),) * 2, np.nan)
        np.fill_diagonal(vcov, np.array([e.se for e in estimates]) ** 2)
        reps = rep_var = None
    return EstimateTable(
        estimates,
        pd.DataFrame(key_rows),
        labels,
        vcov,
        df=float(np.min(res.df)) if df is None else float(df),
        level=level,
        variance_method=design.variance_method,
        replicates=reps,
        replicate_variance=rep_var,
        function_method="delta" if reps is not None else None,
    )


def _check_quantile_options(design, x, rule, ci_method, interval_type) -> tuple[bool, str]:
    """Refuse unknown options; return (replicate design?, the CDF interval type actually used)."""
    _check_rule(rule)
    if ci_method not in ("woodruff", "score"):
        raise EstimationError(f"ci_method={ci_method!r}: quantile intervals are 'woodruff' or 'score'")
    if interval_type not in QUANTILE_INTERVALS:
        raise EstimationError(f"interval_type={interval_type!r} is not one of {QUANTILE_INTERVALS}")
    is_rep = design.variance_method == "replicate"
    cdf_type = interval_type
    if is_rep and interval_type in ("beta", "xlogit", "asin"):
        # R survey 4.1.1's svyquantile.svyrep.design calls woodruffCI without passing
        # interval.type, so replicate designs always get the Wald ("mean") CDF interval.
        cdf_type = "mean"
    if interval_type == "quantile" and not is_rep:
        raise EstimationError("interval_type='quantile' needs replicate weights (a ReplicateDesign)")
    if ci_method == "score" and is_rep:
        raise EstimationError("the score interval is for Taylor designs; use ci_method='woodruff' on replicate designs")
    if isinstance(x, (list, tuple)):
        raise EstimationError("quantile() takes one column; call it once per column")
    return is_rep, cdf_type


def _quantile_domains(design, x, na_rm):
    """Values, domain codes (empty domains dropped, with a warning), R's row counts per domain."""
    Y, ok = design.analysis_values([x], na_rm)
    xv = Y[:, 0]
    dom, key_table, D = design.domain_codes(ok)
    # R's nrow(design) per domain (the "beta" df adjustment): zero-weight rows count
    dom_rows = design.domain_codes(ok, keep_zero=True)[0]
    counts = np.bincount(dom[dom >= 0], minlength=D)
    if key_table is None and counts[0] == 0:
        raise EstimationError(f"the domain is empty: no respondent with a non-missing {x!r}")
    if key_table is not None:
        present = counts > 0
        if not present.any():
            raise EstimationError(
                f"every domain is empty: no respondent with a non-zero weight, a domain key and a non-missing {x!r}"
            )
        warn_dropped_domains(key_table, present, list(key_table.columns), [x])
        key_table = key_table[present].reset_index(drop=True)
        remap = np.full(D, -1)
        remap[present] = np.arange(present.sum())
        dom = np.where(dom >= 0, remap[np.maximum(dom, 0)], -1)
        dom_rows = np.where(dom_rows >= 0, remap[np.maximum(dom_rows, 0)], -1)
        counts = counts[present]
        D = int(present.sum())
    return xv, dom, dom_rows, counts, key_table, D


def _replicate_quantiles(design, xv, dom, D, ps, rule) -> np.ndarray:
    """The quantiles under every replicate weight column: (R, D·P), domains outer."""
    Wfull = design.replicate_weights()
    P = len(ps)
    rep_q = np.zeros((Wfull.shape[1], D * P))
    for d in range(D):  # domains: few; replicates are vectorised
        dr = np.flatnonzero(dom == d)
        o = np.argsort(xv[dr], kind="stable")
        xs = xv[dr][o]
        Wr = Wfull[dr][o]
        for j, pj in enumerate(ps):
            rep_q[:, d * P + j] = _rep_rule(xs, Wr, float(pj), rule)
    return rep_q


def _replicate_interval(qh: float, var: float):
    """Wald interval with the replicate SE of the quantile itself."""
    se = math.sqrt(max(var, 0.0))

    def interval(lvl, dfx):
        t = t_quantile(lvl, dfx)
        return (qh - t * se, qh + t * se)

    return interval


def _woodruff_interval(F: float, varF: float, dd, rule, cdf_type, n_rows, degf):
    """Woodruff: an interval for the CDF at the estimate, mapped back through the inverse CDF."""
    seF = math.sqrt(max(varF, 0.0))

    def interval(lvl, dfx):
        lo, hi = _cdf_interval(F, seF, lvl, dfx, cdf_type, n_rows, degf)
        qlo = np.nan if not (np.isfinite(lo) and lo >= 0) else float(dd.q(lo, rule)[0])
        qhi = np.nan if not (np.isfinite(hi) and hi <= 1) else float(dd.q(hi, rule)[0])
        return (qlo, qhi)

    return interval


def _quantile_estimate(design, opts, pj, qh, interval, degf_d, n_d, P, kd, cdf):
    """One quantile's Estimate (SE = interval width / 2t), its label and key row, and why it has no interval."""
    x, level = opts["x"], opts["level"]
    dfd = degf_d if opts["df"] is None else float(opts["df"])
    lo, hi = interval(level, dfd) if dfd > 0 else (np.nan, np.nan)
    t = t_quantile(level, dfd)
    se = (hi - lo) / (2 * t) if np.isfinite(t) else np.nan
    name = f"{pj:g}"
    if kd is not None:
        dom_label = ", ".join(str(v) for v in kd.values())
        label = dom_label if P == 1 else f"{dom_label}:{name}"
        row = {**kd, "p": pj}
    else:
        label = name
        row = {"variable": x, "p": pj}
    interval_type, ci_method = opts["interval_type"], opts["ci_method"]
    est = make_estimate(
        f"{x} q{name}" if kd is None else f"{label} ({x} q{name})",
        qh,
        se * se if np.isfinite(se) else np.nan,
        dfd,
        level=level,
        ci_method=("score" if ci_method == "score" else f"woodruff-{interval_type}")
        if interval_type != "quantile"
        else "replicate-quantile",
        n=n_d,
        statistic="quantile",
        variance_method=design.variance_method,
        interval=interval,
    )
    if np.isfinite(se):
        return est, label, row, ""
    est = _with_se(est, np.nan)
    Fj, varF, n_rows = cdf
    seF = math.sqrt(max(varF, 0.0))
    if not dfd > 0:
        why = f"the domain has {dfd:g} degrees of freedom (<= 0)"
    elif interval_type == "quantile":
        why = "the replicate quantiles are undefined"
    elif ci_method == "score":
        why = "the score statistic does not cross the t quantile inside the data range"
    else:
        clo, chi = _cdf_interval(Fj, seF, level, dfd, opts["cdf_type"], n_rows, degf_d)
        why = (
            f"the CDF interval [{clo:.4g}, {chi:.4g}] around F = {Fj:.4g} falls outside [0, 1], "
            "i.e. beyond the data range"
            if np.isfinite(clo) and np.isfinite(chi)
            else f"the CDF interval around F = {Fj:.4g} is undefined (SE {seF:.3g})"
        )
    return est, label, row, why


def _warn_no_interval(nan_reasons: list) -> None:
    if not nan_reasons:
        return
    shown = "; ".join(nan_reasons[:5]) + (f"; and {len(nan_reasons) - 5} more" if len(nan_reasons) > 5 else "")
    warnings.warn(
        f"{len(nan_reasons)} quantile(s) have no interval (SE and limits NaN, as R's svyquantile gives NA): "
        f"{shown}. A wider domain, another interval_type or ci_method, or a lower level may give one.",
        HappinessIndexWarning,
        stacklevel=4,
    )


def _with_se(est, se):
    from dataclasses import replace

    return replace(est, se=float(se))


# ---------------------------------------------------------------------------
# score (Francisco–Fuller) interval
# ---------------------------------------------------------------------------


def _score_interval_fn(design, xv, dom, d, dd, p, rule, dom_rows=None):
    """Interval function for R's ``ffullerCI`` in domain ``d``.

    The score statistic ``(p - F(θ)) / se(F(θ))`` is a step function of θ that changes
    only at observed values; R's ``uniroot`` converges to the jump where it crosses
    ``±t`` and returns the side with the smaller absolute statistic. The limit is then
    ``rule(mean(x <= θ))`` with an unweighted mean, as in R.

    The crossing is located by multisection over the sorted candidate thresholds (as
    ``uniroot`` bisects θ), 15 thresholds per variance-engine call, so a sample of n
    distinct values needs about ``log16(n)`` calls and O(16·n) memory.
    """
    # R's x holds the domain's zero-weight rows too: they set the search range (min, max,
    # IQR) and count in the unweighted mean(x <= θ)
    rows = np.flatnonzero((dom if dom_rows is None else dom_rows) == d)
    x_dom = xv[rows]
    vals = np.unique(xv[dom == d])
    iqr = float(np.diff(np.quantile(x_dom, [0.25, 0.75], method="linear"))[0])
    lowerT, upperT = float(x_dom.min()) + iqr / 100, float(x_dom.max()) - iqr / 100
    # candidate thresholds: lowerT, then every distinct value inside (lowerT, upperT]
    thetas = np.concatenate([[lowerT], vals[(vals > lowerT) & (vals <= upperT)]])
    K = len(thetas)
    dom1 = np.where(dom == d, 0, -1)
    n = len(design.data)
    cache: dict[int, float] = {}

    def scores(idx):
        need = [k for k in idx if k not in cache]
        for start in range(0, len(need), 256):
            block = np.asarray(need[start : start + 256])
            B = len(block)
            Y = np.column_stack([(xv[:, None] <= thetas[block][None, :]).astype(float), np.ones(n)])
            stat = Statistic([f"t{k}" for k in range(B)], Y, np.arange(B), np.full(B, B), "mean", ["score"])
            res = design.estimate_statistic(stat, dom1, 1)
            se = np.sqrt(np.maximum(res.var[0], 0.0))
            with np.errstate(divide="ignore", invalid="ignore"):
                sc = (p - res.theta[0]) / se
            cache.update(zip(block.tolist(), sc.tolist()))
        return np.array([cache[k] for k in idx])

    def limit(qlimit):
        # multisection on the candidate index (like R's uniroot on θ): each round evaluates
        # up to 15 interior thresholds in one engine call and keeps the first bracket
        # where the statistic changes sign
        a, b = 0, K - 1
        fa, fb = scores([a, b]) - qlimit
        while b - a > 1:
            inner = np.unique(np.linspace(a, b, 17).round().astype(int))
            inner = inner[(inner > a) & (inner < b)]
            fin = scores(inner.tolist()) - qlimit
            seq = np.concatenate([[a], inner, [b]])
            fseq = np.concatenate([[fa], fin, [fb]])
            good = np.isfinite(fseq)
            seq, fseq = seq[good], fseq[good]
            ch = np.flatnonzero((fseq[:-1] > 0) != (fseq[1:] > 0))
            if len(seq) < 2 or not len(ch):
                return float("nan")
            j = ch[0]
            a, b, fa, fb = int(seq[j]), int(seq[j + 1]), float(fseq[j]), float(fseq[j + 1])
        if not (np.isfinite(fa) and np.isfinite(fb)) or (fa > 0) == (fb > 0):
            return float("nan")
        jump = thetas[b]
        right = abs(fb) <= abs(fa)
        pe = float(np.mean(x_dom <= jump)) if right else float(np.mean(x_dom < jump))
        return float(dd.q(pe, rule)[0])

    def interval(level, dfx):
        t = t_quantile(level, dfx)
        if not np.isfinite(t):
            return (np.nan, np.nan)
        return (limit(t), limit(-t))

    return interval

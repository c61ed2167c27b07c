"""Confidence sets for ranks (league tables with honest ranks).

A league table of communes ranks estimates, not true values. Following Mogstad, Romano,
Shaikh & Wilhelm (2023), a confidence set for the rank of commune ``j`` comes from
simultaneous confidence intervals for the differences ``theta_k - theta_j``: commune ``k``
is certainly ahead of ``j`` when its lower bound is above 0, certainly behind when its upper
bound is below 0; the rank of ``j`` (1 = highest) is then between
``1 + #{k certainly ahead}`` and ``p - #{k certainly behind}``.

* **marginal** sets cover the rank of each commune on its own with probability ``level``:
  the critical value is the ``level`` quantile of ``max_k |Z_k - Z_j| / s_jk`` for that ``j``;
* **simultaneous** sets cover the ranks of all communes at once: the critical value is the
  quantile of the maximum over all pairs.

``Z ~ N(0, Sigma)`` is drawn by a seeded parametric bootstrap from the joint covariance of the
estimates (direct design covariance, or the MSE of model estimates), so correlated estimates
(e.g. domains of one design, or benchmarked EBLUPs) are handled. Two communes with equal
estimates get identical, hence overlapping, ranges.

References
----------
Mogstad, M., Romano, J. P., Shaikh, A. M. and Wilhelm, D. (2024). Inference for ranks with
applications to mobility across neighbourhoods and academic achievement across countries.
Review of Economic Studies 91(1), 476–518 (working paper 2020/2023).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..errors import EstimationError, describe_rows

__all__ = ["rank_intervals"]

_BUDGET = 5_000_000  # floats per chunk of draws x units x units (40 MB)


#: upper bound on bootstrap draws (memory is draws × units floats)
_MAX_DRAWS = 10_000_000


def _as_inputs(estimates, vcov, units):
    if isinstance(estimates, pd.Series):
        labels = list(estimates.index) if units is None else list(units)
        est = estimates.to_numpy(dtype=float)
    else:
        est = np.asarray(estimates, dtype=float).ravel()
        labels = list(range(1, len(est) + 1)) if units is None else list(units)
    p = len(est)
    if p < 2:
        raise EstimationError("rank_intervals: at least 2 units are needed to rank")
    if len(labels) != p:
        raise EstimationError(f"rank_intervals: {len(labels)} unit labels for {p} estimates")
    dup = pd.Index(labels)[pd.Index(labels).duplicated()].unique().tolist()
    if dup:
        raise EstimationError(
            f"rank_intervals: unit labels must be unique; repeated: {describe_rows(dup)}; give one estimate per unit"
        )
    V = vcov.to_numpy(dtype=float) if isinstance(vcov, pd.DataFrame) else np.asarray(vcov, dtype=float)
    if V.ndim == 1:
        V = np.diag(V)
    if V.shape != (p, p):
        raise EstimationError(f"rank_intervals: vcov has shape {V.shape}, expected ({p}, {p}) or ({p},) variances")
    bad = np.flatnonzero(~np.isfinite(est) | ~np.isfinite(np.diag(V)))
    if bad.size:
        raise EstimationError(
            f"rank_intervals: missing estimate or variance for units "
            f"{describe_rows([labels[i] for i in bad])}; drop them before ranking"
        )
    if not np.allclose(V, V.T, rtol=1e-8, atol=1e-12 * max(1.0, np.abs(V).max())):
        raise EstimationError("rank_intervals: vcov is not symmetric")
    w, U = np.linalg.eigh(V)
    if w.min() < -1e-8 * max(w.max(), 1e-300):
        raise EstimationError(f"rank_intervals: vcov is not positive semi-definite (eigenvalue {w.min():.3g})")
    root = U * np.sqrt(np.clip(w, 0, None))
    return est, labels, V, root


def _pair_se(V: np.ndarray) -> np.ndarray:
    d = np.diag(V)
    S2 = d[:, None] + d[None, :] - 2 * V
    return np.sqrt(np.clip(S2, 0, None))


def _max_stats(root: np.ndarray, S: np.ndarray, draws: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Per draw: max over k of |Z_k - Z_j|/s_jk for every j (draws × p), and over all pairs."""
    p = root.shape[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.where(S > 0, 1.0 / S, 0.0)
    per_j = np.empty((draws, p))
    chunk = max(1, _BUDGET // (p * p))
    for start in range(0, draws, chunk):
        n = min(chunk, draws - start)
        Z = rng.standard_normal((n, p)) @ root.T
        T = np.abs(Z[:, :, None] - Z[:, None, :]) * inv[None, :, :]  # (n, p, p): [j, k]
        per_j[start : start + n] = T.max(axis=2)
    return per_j, per_j.max(axis=1)


def _bounds(est: np.ndarray, S: np.ndarray, crit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rank bounds (1 = highest) from simultaneous intervals est_k - est_j ± crit_j s_jk."""
    diff = est[None, :] - est[:, None]  # [j, k] = theta_k - theta_j
    half = crit[:, None] * S
    ahead = diff - half > 0
    behind = diff + half < 0
    np.fill_diagonal(ahead, False)
    np.fill_diagonal(behind, False)
    p = len(est)
    return 1 + ahead.sum(axis=1), p - behind.sum(axis=1)


def rank_intervals(
    estimates,
    vcov,
    *,
    units: Sequence | None = None,
    level: float = 0.95,
    draws: int = 10_000,
    seed: int | None = 20230101,
    higher_is_better: bool = True,
) -> pd.DataFrame:
    """Marginal and simultaneous confidence sets for ranks (Mogstad et al. 2023).

    Parameters
    ----------
    estimates : Series or array-like, shape (p,)
        Unit estimates (e.g. commune indices in points); a Series' index gives the units.
    vcov : DataFrame or ndarray, shape (p, p) or (p,)
        Their joint covariance (or variances of independent estimates), in squared points.
    units : sequence, optional
        Unit labels (default: the Series index, or 1..p).
    level : float, default 0.95
        Confidence level of both kinds of sets.
    draws : int, default 10000
        Parametric-bootstrap draws of ``Z ~ N(0, vcov)`` for the critical values.
    seed : int, optional
        Seed of numpy's ``default_rng``: the same seed gives the same table.
    higher_is_better : bool, default True
        Rank 1 is the highest estimate (False: the lowest).

    Returns
    -------
    DataFrame
        ``unit``, ``estimate``, ``rank`` (1 = best; ties share the best rank), ``rank_low``,
        ``rank_high`` (marginal set), ``rank_low_sim``, ``rank_high_sim`` (simultaneous set),
        in the input order. ``.attrs``: ``level``, ``draws``, ``seed``, critical values.

    Raises
    ------
    EstimationError
        Fewer than 2 units; missing estimates or variances; a covariance that is not
        symmetric positive semi-definite or of the wrong shape; a bad level or draws.

    Notes
    -----
    Pairs whose difference has zero variance are treated as known: the sign of the
    difference of the estimates decides. Refinements of the paper (step-down, one-sided
    sets) are not applied, so the sets are conservative.
    """
    if not 0 < level < 1:
        raise EstimationError(f"rank_intervals: level must be in (0, 1), got {level!r}")
    if not (isinstance(draws, (int, np.integer)) and not isinstance(draws, bool) and 100 <= draws <= _MAX_DRAWS):
        raise EstimationError(f"rank_intervals: draws must be an integer in [100, {_MAX_DRAWS:_}], got {draws!r}")
    if seed is not None and not (isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0):
        raise EstimationError(
            f"rank_intervals: seed must be a non-negative whole number or None, got {seed!r} ({type(seed).__name__})"
        )
    est, labels, V, root = _as_inputs(estimates, vcov, units)
    sgn = 1.0 if higher_is_better else -1.0
    e = sgn * est
    S = _pair_se(V)
    per_j, overall = _max_stats(root, S, int(draws), np.random.default_rng(seed))
    crit_marg = np.quantile(per_j, level, axis=0)
    crit_sim = float(np.quantile(overall, level))
    lo, hi = _bounds(e, S, crit_marg)
    lo_s, hi_s = _bounds(e, S, np.full(len(e), crit_sim))
    rank = 1 + (e[None, :] > e[:, None]).sum(axis=1)
    out = pd.DataFrame(
        {
            "unit": labels,
            "estimate": est,
            "rank": rank,
            "rank_low": lo,
            "rank_high": hi,
            "rank_low_sim": lo_s,
            "rank_high_sim": hi_s,
        }
    )
    out.attrs.update(
        {
            "level": level,
            "draws": int(draws),
            "seed": seed,
            "critical_simultaneous": crit_sim,
            "critical_marginal": dict(zip(labels, crit_marg.tolist())),
        }
    )
    return out


def ordinal_en(k: int) -> str:
    """1 -> '1st', 2 -> '2nd', 11 -> '11th'."""
    suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"{k}{suffix}"


def describe_rank(rank: int, low: int, high: int) -> tuple[str, str]:
    """The league-table wording, English and Vietnamese: ("3rd, between 1st and 7th", "hạng 3, trong khoảng 1–7")."""
    en = f"{ordinal_en(rank)}, between {ordinal_en(low)} and {ordinal_en(high)}"
    vi = f"hạng {rank}, trong khoảng {low}–{high}"
    return en, vi

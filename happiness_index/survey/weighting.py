"""Weighting: non-response adjustment, post-stratification, raking, calibration, trimming.

Every function here takes a design (:class:`~happiness_index.design.SurveyDesign` or
:class:`~happiness_index.design.ReplicateDesign`) and returns a **new** design; the input
is never modified. The new design "knows" it was calibrated:

* a Taylor-linearisation design gets an *adjuster* that transforms the row-level
  linearised values before they are summed to PSUs, exactly as R ``survey``'s
  ``svyrecvar`` does: residuals from the weighted projection on the calibration model
  (GREG, raking and logit calibration), removal of post-stratum means
  (post-stratification), ten sweeps of margin-mean removal (``rake``);
* a replicate design gets every replicate weight column re-weighted the same way as
  the full-sample weights (post-stratified, raked or calibrated replicate by replicate,
  all replicate columns at once).

Population information is given as plain mappings::

    {"sex": {"F": 5100, "M": 4900}}                    # one categorical margin
    {("sex", "agegrp"): {("F", "18-34"): 1200, ...}}   # a crossed margin
    {"income": 1.2e9}                                  # a numeric total (calibrate only)
    {"(Intercept)": 6194, "stypeH": 755, "api99": 3.9e6}   # R-style model totals (calibrate)

Each result carries ``design.calibration_info``, a dict with the method, the iterations,
whether it converged, the largest gap between achieved and target totals per margin, and
what was dropped or collapsed (never silently).

References
----------
Deville, J.-C. & Särndal, C.-E. (1992). Calibration estimators in survey sampling. *JASA* 87, 376-382.
Deville, J.-C., Särndal, C.-E. & Sautory, O. (1993). Generalized raking procedures in survey sampling. *JASA* 88, 1013-1020.
Kish, L. (1965). *Survey Sampling*. Wiley. (weighting design effect, §11.7)
Lumley, T. (2010). *Complex Surveys: A Guide to Analysis Using R*, ch. 7. Wiley.
Särndal, C.-E., Swensson, B. & Wretman, J. (1992). *Model Assisted Survey Sampling*, ch. 6-7. Springer.
Särndal, C.-E. & Lundström, S. (2005). *Estimation in Surveys with Nonresponse*. Wiley.
"""

from __future__ import annotations

import math
import unicodedata
import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from ..errors import (
    ConvergenceError,
    HappinessIndexWarning,
    WeightingError,
    describe_rows,
)
from .design import ReplicateDesign, SurveyDesign

__all__ = [
    "kish_effective_n",
    "post_stratify",
    "rake",
    "calibrate",
    "adjust_nonresponse",
    "trim_weights",
    "weight_diagnostics",
    "WeightingWarning",
]


class WeightingWarning(HappinessIndexWarning):
    """A weighting step did something the analyst must know about (cells collapsed or
    dropped, weights trimmed, a calibration that did not fully converge under ``on_fail="warn"``)."""


# ---------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------


def _nfc(v):
    return unicodedata.normalize("NFC", v) if isinstance(v, str) else v


def _canon(v) -> tuple:
    """Canonical matching key of a category label (scalar or tuple): tuple of NFC strings."""
    if isinstance(v, tuple):
        return tuple(str(_nfc(x)) for x in v)
    return (str(_nfc(v)),)


def _key_name(key) -> str:
    return " × ".join(str(k) for k in key) if isinstance(key, tuple) else str(key)


def _label_text(label) -> str:
    if isinstance(label, tuple):
        return ", ".join(str(x) for x in label) if len(label) > 1 else str(label[0])
    return str(label)


def _group_matrix(codes: np.ndarray, n_groups: int) -> sparse.csr_matrix:
    """(n_groups × n) indicator matrix; rows with code < 0 belong to no group."""
    ok = codes >= 0
    cols = np.flatnonzero(ok)
    return sparse.csr_matrix((np.ones(cols.size), (codes[ok], cols)), shape=(n_groups, codes.size))


def _group_sum(codes: np.ndarray, n_groups: int, X: np.ndarray) -> np.ndarray:
    """Sum rows of X (n,) or (n × q) by integer codes; code -1 is ignored."""
    if X.ndim == 1 or X.shape[1] == 1:
        x = X if X.ndim == 1 else X[:, 0]
        if codes.size and codes.min() >= 0:
            out = np.bincount(codes, weights=x, minlength=n_groups)
        else:
            ok = codes >= 0
            out = np.bincount(codes[ok], weights=x[ok], minlength=n_groups)
        return out if X.ndim == 1 else out[:, None]
    return np.asarray(_group_matrix(codes, n_groups) @ X)


def _check_design(design, what: str):
    if not isinstance(design, (SurveyDesign, ReplicateDesign)):
        raise WeightingError(
            f"{what} needs a SurveyDesign or ReplicateDesign, got {type(design).__name__}; "
            "build one with hi.SurveyDesign(data, weights=..., strata=..., psu=...)"
        )
    if getattr(design, "_domain", None) is not None:
        raise WeightingError(
            f"{what} was given a domain (subset) design; weight the full design first, then take "
            "the subset (weights must reproduce population totals for the whole sample)"
        )


def _is_rep(design) -> bool:
    return isinstance(design, ReplicateDesign)


def _rep_matrix(design) -> np.ndarray:
    """Full-sample and replicate weights as one (n × (1+R)) array (column 0 = full sample)."""
    w = design._w
    if _is_rep(design):
        return np.column_stack([w, design.replicate_weights()])
    return w[:, None].astype(float)


def _finish(design, W_all: np.ndarray, adjuster, info: dict):
    """Build the calibrated design from the new weights (column 0 full sample)."""
    w = W_all[:, 0].copy()
    if _is_rep(design):
        new = design._with_weights(w, W_all[:, 1:].copy())
        new._df_cache = None  # R recomputes degf() from the calibrated replicate weights
    else:
        new = design._with_weights(w, adjuster)
    history = list(getattr(design, "calibration_history", ()))
    history.append(info)
    new.calibration_info = info
    new.calibration_history = tuple(history)
    return new


# ---------------------------------------------------------------------------
# encoding categorical margins
# ---------------------------------------------------------------------------


def _encode_column(data: pd.DataFrame, col, w: np.ndarray, what: str) -> tuple[np.ndarray, list]:
    """Integer codes (n,) and NFC labels of one categorical column; -1 for missing."""
    if col not in data.columns:
        import difflib

        close = difflib.get_close_matches(str(col), [str(c) for c in data.columns], n=3)
        hint = f" Did you mean {close}?" if close else ""
        raise WeightingError(f"{what}: column {col!r} is not in the data.{hint}")
    s = data[col]
    if isinstance(s.dtype, pd.CategoricalDtype):
        codes = s.cat.codes.to_numpy().astype(np.int64)
        uniques = list(s.cat.categories)
    else:
        codes, u = pd.factorize(s, sort=False)
        codes = codes.astype(np.int64)
        uniques = list(u)
    labels = [_nfc(u) for u in uniques]
    # NFC may merge labels that differed only in Unicode composition
    canon = [_canon(u) for u in labels]
    if len(set(canon)) < len(canon):
        first: dict = {}
        remap = np.empty(len(canon), dtype=np.int64)
        new_labels = []
        for i, c in enumerate(canon):
            if c not in first:
                first[c] = len(new_labels)
                new_labels.append(labels[i])
            remap[i] = first[c]
        codes = np.where(codes >= 0, remap[np.maximum(codes, 0)], -1)
        labels = new_labels
    missing = (codes < 0) & (w != 0)
    if missing.any():
        raise WeightingError(
            f"{what}: column {col!r} is missing for {int(missing.sum())} respondent(s) with positive weight "
            f"(rows {describe_rows(data.index[missing])}); impute it or give it its own category "
            f"(e.g. data[{col!r}].fillna('unknown')) with a population count"
        )
    return codes, labels


def _encode(design, key, what: str) -> tuple[np.ndarray, list]:
    """Codes and labels of a margin key: a column, or a tuple of columns (crossed)."""
    data, w = design._data, design._w
    if isinstance(key, tuple):
        parts = [_encode_column(data, c, w, what) for c in key]
        joint = np.zeros(design._n, dtype=np.int64)
        bad = np.zeros(design._n, dtype=bool)
        for codes, labels in parts:
            bad |= codes < 0
            joint = joint * (len(labels) + 1) + np.maximum(codes, 0)
            if joint.max(initial=0) > 2**52:
                joint, _ = pd.factorize(joint)
                joint = joint.astype(np.int64)
        joint = np.where(bad, -1, joint)
        jc, ju = pd.factorize(joint, sort=False)
        jc = jc.astype(np.int64)
        ju = np.asarray(ju)
        valid = ju >= 0
        # decode each unique joint value back into its tuple of labels
        first = np.full(len(ju), -1, dtype=np.int64)
        ok = jc >= 0
        first[jc[ok][::-1]] = np.flatnonzero(ok)[::-1]
        labels = []
        for g in range(len(ju)):
            r = first[g]
            if not valid[g] or r < 0:
                labels.append(None)
                continue
            labels.append(tuple(p_labels[p_codes[r]] for p_codes, p_labels in parts))
        jc = np.where(np.asarray([lab is None for lab in labels])[np.maximum(jc, 0)] & (jc >= 0), -1, jc)
        return jc, labels
    codes, labels = _encode_column(data, key, w, what)
    return codes, labels


@dataclass
class _Margin:
    """A categorical margin matched to the data."""

    key: object
    name: str
    codes: np.ndarray  # (n,) in 0..K-1, -1 for rows outside (weight 0)
    labels: list  # (K,) margin labels
    targets: np.ndarray  # (K,)
    info: dict


def _as_mapping(margin, name: str) -> dict:
    if isinstance(margin, pd.Series):
        return {k: v for k, v in margin.items()}
    if isinstance(margin, pd.DataFrame):
        if "Freq" not in margin.columns:
            raise WeightingError(f"margin {name}: a DataFrame margin needs a 'Freq' column (R's layout)")
        keys = [c for c in margin.columns if c != "Freq"]
        if len(keys) == 1:
            return dict(zip(margin[keys[0]], margin["Freq"]))
        return dict(zip(map(tuple, margin[keys].to_numpy().tolist()), margin["Freq"]))
    if not isinstance(margin, Mapping):
        raise WeightingError(
            f"margin {name}: population counts must be a mapping {{category: count}}, got {type(margin).__name__}"
        )
    return dict(margin)


def _margin_targets(margin, name: str, what: str) -> tuple[dict, dict]:
    """The margin's categories by canonical (NFC) key and their finite, non-negative targets."""
    # the margin, canonicalised
    m_keys = list(margin.keys())
    m_canon = {}
    for k in m_keys:
        c = _canon(k)
        if c in m_canon:
            raise WeightingError(
                f"{what}: margin {name!r} lists category {k!r} twice (after Unicode NFC normalisation)"
            )
        m_canon[c] = k
    targets = {}
    for k in m_keys:
        v = margin[k]
        try:
            t = float(v)
        except (TypeError, ValueError):
            raise WeightingError(f"{what}: margin {name!r}, category {k!r}: target {v!r} is not a number") from None
        if not math.isfinite(t):
            raise WeightingError(f"{what}: margin {name!r}, category {k!r}: target {v!r} is not finite")
        if t < 0:
            raise WeightingError(
                f"{what}: margin {name!r}, category {_label_text(k)!r}: negative target {v!r}; population counts "
                "must be positive"
            )
        targets[_canon(k)] = t
    return m_canon, targets


def _collapse_map(collapse, m_canon: dict, data_canon: dict, name: str, what: str) -> dict:
    """``{category: final category}`` of a ``collapse`` mapping, chains resolved, cycles refused."""
    # collapsing: {from: to}
    col_map = {}
    if collapse:
        for a, b in dict(collapse).items():
            ca, cb = _canon(a), _canon(b)
            if ca not in m_canon and ca not in data_canon:
                raise WeightingError(
                    f"{what}: collapse of margin {name!r}: category {a!r} is neither in the data nor in the margin"
                )
            if cb not in m_canon:
                raise WeightingError(
                    f"{what}: collapse of margin {name!r}: target category {b!r} is not in the margin; collapse into one of "
                    f"{[m_canon[c] for c in m_canon][:20]}"
                )
            col_map[ca] = cb
        # resolve chains a -> b -> c
        for a in list(col_map):
            seen = {a}
            b = col_map[a]
            while b in col_map:
                if col_map[b] in seen:
                    raise WeightingError(
                        f"{what}: collapse of margin {name!r} has a cycle through {m_canon.get(b, b)!r}"
                    )
                seen.add(b)
                b = col_map[b]
            col_map[a] = b
    return col_map


def _match_margin(design, key, margin, what: str, collapse=None, partial: bool = False) -> _Margin:
    """Match a margin {category: population count} to the data's categories of ``key``.

    Raises WeightingError for unknown columns, categories in the data missing from the
    margin, negative/zero/non-finite targets, and population categories without
    respondents (unless collapsed or ``partial``).
    """
    name = _key_name(key)
    margin = _as_mapping(margin, name)
    if len(margin) == 0:
        raise WeightingError(f"{what}: margin {name!r} is empty; give a population count for every category")
    codes, labels = _encode(design, key, what)
    w = design._w
    K = len(labels)
    sample_tot = _group_sum(codes, K, w) if K else np.zeros(0)
    data_canon = {_canon(lab): i for i, lab in enumerate(labels) if lab is not None}
    m_canon, targets = _margin_targets(margin, name, what)
    info = {"margin": name, "dropped": [], "collapsed": []}
    col_map = _collapse_map(collapse, m_canon, data_canon, name, what)
    # data categories (with positive weight) must be in the margin
    # data order first (so the common case needs no re-coding), then margin-only categories
    in_data = [c for c, _ in sorted(data_canon.items(), key=lambda t: t[1]) if c in m_canon and c not in col_map]
    seen_keys = set(in_data)
    final_keys = in_data + [c for c in m_canon if c not in col_map and c not in seen_keys]
    final_index = {c: i for i, c in enumerate(final_keys)}
    final_targets = np.zeros(len(final_keys))
    for c, t in targets.items():
        dest = col_map.get(c, c)
        final_targets[final_index[dest]] += t
    for a, b in col_map.items():
        info["collapsed"].append(
            {
                "from": _label_text(m_canon.get(a, a)),
                "into": _label_text(m_canon[b]),
                "target_moved": targets.get(a, 0.0),
            }
        )
    row_map = np.full(K, -1, dtype=np.int64)
    missing_cats = []
    for c, i in sorted(data_canon.items(), key=lambda t: t[1]):
        dest = col_map.get(c, c)
        if dest in final_index:
            row_map[i] = final_index[dest]
        elif sample_tot[i] > 0:
            missing_cats.append((labels[i], int(np.sum(codes == i)), sample_tot[i]))
    if missing_cats:
        parts = [f"{_label_text(lab)!r} ({cnt} respondents, weight {tot:.6g})" for lab, cnt, tot in missing_cats[:10]]
        raise WeightingError(
            f"{what}: {name} has categories in the data that are missing from the population margin: "
            + "; ".join(parts)
            + f". Add their population counts to the margin, or collapse them into a listed category "
            f"(collapse={{{name!r}: {{{_label_text(missing_cats[0][0])!r}: <category in the margin>}}}}). "
            f"Margin categories: {[_label_text(m_canon[c]) for c in final_keys][:20]}"
        )
    if K == len(final_keys) and np.array_equal(row_map, np.arange(K)):
        new_codes = codes  # the common case: the margin lists exactly the data's categories, same order
        samp = sample_tot
    else:
        new_codes = np.where(codes >= 0, row_map[np.maximum(codes, 0)], -1)
        samp = _group_sum(new_codes, len(final_keys), w)
    # targets of zero
    zero_with_resp = [
        (final_keys[i], final_targets[i]) for i in range(len(final_keys)) if final_targets[i] == 0 and samp[i] > 0
    ]
    if zero_with_resp:
        c = zero_with_resp[0][0]
        raise WeightingError(
            f"{what}: {name} = {_label_text(m_canon[c])}: target 0 but the sample has respondents there "
            f"(weight {samp[final_index[c]]:.6g}); a zero or negative population count would delete them. Fix the "
            "population table or collapse the category into a neighbour"
        )
    empty = [i for i in range(len(final_keys)) if samp[i] <= 0 and final_targets[i] > 0]
    if empty and not partial:
        first = final_keys[empty[0]]
        msgs = [
            f"{name} = {_label_text(m_canon[final_keys[i]])}: target {final_targets[i]:.10g} but no respondents"
            for i in empty
        ]
        others = [_label_text(m_canon[c]) for j, c in enumerate(final_keys) if samp[j] > 0]
        raise WeightingError(
            f"{what}: "
            + "; ".join(msgs[:10])
            + (f" (and {len(msgs) - 10} more)" if len(msgs) > 10 else "")
            + f". Weights cannot reach a population cell with no respondents. Collapse it into a neighbouring "
            f"category, e.g. collapse={{{name!r}: {{{_label_text(m_canon[first])!r}: {(others[0] if others else '...')!r}}}}}"
            + (
                " or pass partial=True to drop it (its population is then not represented)"
                if what == "post_stratify"
                else ""
            )
            + "."
        )
    keep = np.array([samp[i] > 0 for i in range(len(final_keys))], dtype=bool)
    for i in np.flatnonzero(~keep):
        info["dropped"].append(
            {
                "category": _label_text(m_canon[final_keys[i]]),
                "target": float(final_targets[i]),
                "reason": "no respondents" if final_targets[i] > 0 else "target 0 and no respondents",
            }
        )
    if (~keep).any():
        idx = np.cumsum(keep) - 1
        remap = np.where(keep, idx, -1)
        new_codes = np.where(new_codes >= 0, remap[np.maximum(new_codes, 0)], -1)
        final_keys = [c for c, k in zip(final_keys, keep) if k]
        final_targets = final_targets[keep]
    out_labels = [m_canon[c] for c in final_keys]
    if info["collapsed"]:
        warnings.warn(
            f"{what}: margin {name!r}: collapsed "
            + "; ".join(f"{d['from']!r} into {d['into']!r}" for d in info["collapsed"]),
            WeightingWarning,
            stacklevel=3,
        )
    dropped_pos = [d for d in info["dropped"] if d["target"] > 0]
    if dropped_pos:
        warnings.warn(
            f"{what}: margin {name!r}: dropped population cells without respondents (partial=True): "
            + ", ".join(f"{d['category']!r} (target {d['target']:.10g})" for d in dropped_pos),
            WeightingWarning,
            stacklevel=3,
        )
    return _Margin(key, name, new_codes, out_labels, final_targets, info)


def _normalise_margins(margins, what) -> list:
    if not isinstance(margins, Mapping) or not margins:
        raise WeightingError(
            f"{what}: margins must be a non-empty mapping {{column: {{category: population count}}}}, "
            f"got {type(margins).__name__}"
        )
    return list(margins.items())


#: Relative tolerance within which the population totals of several margins count as the
#: same population size (published tables rounded or computed in floating point).
TOTALS_RTOL = 1e-6


def _check_totals_agree(ms: list[_Margin], what: str, extra: dict | None = None) -> list[_Margin]:
    """Check that the margins add up to the same total, within ``TOTALS_RTOL`` relative.

    Returns the margins reconciled to the first margin's total: margins within the
    tolerance are rescaled (by a factor within 1 ± 1e-6) so that iterative fits can meet
    all of them exactly. Raises WeightingError when the totals differ by more.
    """
    tots = {m.name: float(m.targets.sum()) for m in ms}
    if extra:
        tots.update(extra)
    if len(tots) < 2:
        return list(ms)
    vals = np.array(list(tots.values()))
    ref = vals.max()
    if np.any(np.abs(vals - ref) > TOTALS_RTOL * ref):
        listing = ", ".join(f"{k}: {v:.10g}" for k, v in tots.items())
        raise WeightingError(
            f"{what}: the margins' population totals disagree ({listing}); every margin must add up to the same "
            f"population size (within a relative tolerance of {TOTALS_RTOL:g}). Fix the tables, or rescale them to "
            "a common total before weighting"
        )
    if not ms:
        return []
    common = float(ms[0].targets.sum())
    out = [ms[0]]
    for m in ms[1:]:
        t = float(m.targets.sum())
        if t != common and t > 0:
            m = _Margin(m.key, m.name, m.codes, m.labels, m.targets * (common / t), dict(m.info, rescaled=common / t))
        out.append(m)
    return out


def _check_counts(design, ms: list[_Margin], what: str, N: float | None = None) -> None:
    """Refuse population totals smaller than the number of respondents they cover.

    A population cannot have fewer people than the sample drawn from it; such totals are
    almost always proportions (0.5) or percentages (50) given where counts are expected.
    """
    pos = design._w != 0
    checks = [(m.name, float(m.targets.sum()), int(np.count_nonzero((m.codes >= 0) & pos)), m) for m in ms]
    if N is not None:
        checks.append(("(Intercept)", float(N), int(np.count_nonzero(pos)), None))
    for name, tot, n, m in checks:
        if tot < n:
            if m is not None:
                ex = ", ".join(f"{_label_text(lab)!r}: {t:.6g} * N" for lab, t in zip(m.labels[:3], m.targets[:3]))
                ex = "{" + ex + (", ...}" if len(m.labels) > 3 else "}")
                what_tot = f"margin {name!r} adds up to {tot:.10g}"
            else:
                ex = "{'(Intercept)': N, ...}"
                what_tot = f"the population size '(Intercept)' is {tot:.10g}"
            raise WeightingError(
                f"{what}: {what_tot}, fewer than the {n} respondents it covers: population totals must be counts of "
                "people (or households), not proportions or percentages. Multiply the shares by the population "
                f"size N, e.g. {ex}"
            )


# ---------------------------------------------------------------------------
# post-stratification
# ---------------------------------------------------------------------------


def post_stratify(design, population, partial: bool = False, collapse=None) -> SurveyDesign | ReplicateDesign:
    """Post-stratify a design to known population counts (R ``postStratify``).

    Within each post-stratum h the weights are multiplied by ``N_h / Σ_{i∈h} w_i``, so
    the weighted count of every post-stratum equals its population count.

    Parameters
    ----------
    design : SurveyDesign or ReplicateDesign
        The full (not subset) design.
    population : mapping
        Exactly one entry: ``{"column": {category: N_h, ...}}`` or, for crossed cells,
        ``{("commune", "sex", "agegrp"): {(c, s, a): N_h, ...}}``. Counts are numbers of
        people (not proportions). A pandas Series (index = categories) or an R-style
        DataFrame with a ``Freq`` column is accepted in place of the inner mapping.
    partial : bool, default False
        False: a population cell with no respondents is an error. True: such cells are
        dropped (their population is not represented) and a :class:`WeightingWarning`
        lists them, as R's ``partial=TRUE``.
    collapse : mapping, optional
        ``{category: other_category}``: merge a cell into another (its population count
        and any respondents move there). Reported in a warning and in
        ``calibration_info["collapsed"]``.

    Returns
    -------
    SurveyDesign or ReplicateDesign
        A new design; ``calibration_info`` holds the cells (sample and population counts,
        factors), what was dropped or collapsed. Taylor designs linearise on residuals from
        the post-stratum means (Lumley 2010, §7.2); replicate designs post-stratify every
        replicate column.

    Raises
    ------
    WeightingError
        Unknown column; respondents with a missing post-stratum; a category in the data
        missing from ``population``; a negative, non-finite or zero target for a cell with
        respondents; a population cell without respondents (unless ``partial`` or
        ``collapse``); a subset design; population counts adding up to fewer people than
        the respondents they cover (proportions or percentages given instead of counts:
        multiply the shares by the population size N).

    Notes
    -----
    A cell with population count 0 and no respondents is ignored (listed in
    ``calibration_info["dropped"]``). Replicate columns in which a post-stratum has zero
    weight (a jackknife replicate deleting its only PSU) keep their weights in that cell,
    and ``calibration_info["replicate_cells_unadjusted"]`` counts such cases.

    References
    ----------
    Holt, D. & Smith, T. M. F. (1979). Post stratification. *JRSS A* 142, 33-46.
    Lumley, T. (2010). *Complex Surveys*, §7.2.
    """
    _check_design(design, "post_stratify")
    items = _normalise_margins(population, "post_stratify")
    if len(items) != 1:
        raise WeightingError(
            "post_stratify takes one post-stratification variable (or one tuple of crossed variables); got "
            f"{[_key_name(k) for k, _ in items]}. For several margins use rake() or calibrate(); for crossed cells "
            "pass {('commune', 'sex'): {(c, s): N, ...}}"
        )
    key, margin = items[0]
    m = _match_margin(design, key, margin, "post_stratify", collapse=(collapse or None), partial=partial)
    _check_counts(design, [m], "post_stratify")
    codes, K = m.codes, len(m.labels)
    W0 = _rep_matrix(design)
    tot = _group_sum(codes, K, W0)  # (K, 1+R)
    with np.errstate(divide="ignore", invalid="ignore"):
        fac = np.where(tot > 0, m.targets[:, None] / tot, 1.0)
    unadjusted = int(((tot <= 0) & (m.targets[:, None] > 0))[:, 1:].sum())
    F = np.where(codes[:, None] >= 0, fac[np.maximum(codes, 0)], 1.0)
    W1 = W0 * F
    adjuster = None
    if not _is_rep(design):
        oldw = W0[:, 0].copy()
        psw = W1[:, 0].copy()
        adjuster = _PostStratAdjuster(codes, K, oldw, psw)
    cells = pd.DataFrame(
        {
            "cell": [_label_text(x) for x in m.labels],
            "n": np.bincount(codes[codes >= 0], minlength=K),
            "sample_weight": tot[:, 0],
            "population": m.targets,
            "factor": fac[:, 0],
        }
    )
    info = {
        "method": "post_stratify",
        "variables": m.name,
        "iterations": 1,
        "converged": True,
        "max_abs_gap": {m.name: float(np.max(np.abs(_group_sum(codes, K, W1[:, 0]) - m.targets)))},
        "cells": cells,
        "dropped": m.info["dropped"],
        "collapsed": m.info["collapsed"],
        "replicate_cells_unadjusted": unadjusted,
    }
    if unadjusted:
        warnings.warn(
            f"post_stratify: {unadjusted} (post-stratum, replicate) pairs have no weight in the replicate and were "
            "left unadjusted; consider collapsing small post-strata",
            WeightingWarning,
            stacklevel=2,
        )
    return _finish(design, W1, adjuster, info)


class _PostStratAdjuster:
    """svyrecvar's post-stratification step: z - (post-stratum mean of z) on the new weights."""

    def __init__(self, codes, K, oldw, psw):
        self.codes, self.K = codes, K
        psw = psw.copy()
        psw[(psw == 0) & (oldw == 0)] = 1.0
        self.oldw, self.psw = oldw, psw
        self.den = _group_sum(codes, K, oldw)

    def __call__(self, Z: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            Y = np.where((self.psw > 0)[:, None], Z * (self.oldw / self.psw)[:, None], 0.0)
            means = _group_sum(self.codes, self.K, Y) / np.where(self.den > 0, self.den, 1.0)[:, None]
        ok = self.codes >= 0
        out = Z.copy()
        out[ok] -= means[self.codes[ok]] * self.psw[ok, None]
        return out


# ---------------------------------------------------------------------------
# raking
# ---------------------------------------------------------------------------


def rake(
    design,
    margins,
    max_iter: int = 100,
    tol: float = 1e-10,
    tol_type: str = "relative",
    criterion: str = "gap",
    r_default: bool = False,
    collapse=None,
    on_fail: str = "raise",
) -> SurveyDesign | ReplicateDesign:
    """Rake a design to several population margins (iterative proportional fitting).

    Each sweep post-stratifies to every margin in turn; sweeps repeat until the margins
    are met (R ``survey::rake``; Deming & Stephan 1940).

    Parameters
    ----------
    design : SurveyDesign or ReplicateDesign
        The full design.
    margins : mapping
        ``{"sex": {"F": 5100, "M": 4900}, "agegrp": {...}, ("commune", "sex"): {...}}``:
        population counts (people, not proportions) per category; tuple keys give crossed
        margins. Every margin must add up to the same population size.
    max_iter : int, default 100
        Maximum number of sweeps.
    tol : float, default 1e-10
        Convergence tolerance, see ``tol_type`` and ``criterion``.
    tol_type : {"relative", "absolute"}, default "relative"
        "relative": gaps are divided by the target (``criterion="gap"``) or ``tol`` is a
        fraction of the total weight (``criterion="change"``); "absolute": in units of
        weight (people).
    criterion : {"gap", "change"}, default "gap"
        "gap": stop when every category of every margin is within ``tol`` of its target.
        "change": stop when no cell of the joint table of all margin variables changed
        by ``tol`` or more during the last sweep (R's rule).
    r_default : bool, default False
        Reproduce R's default ``control = list(maxit = 10, epsilon = 1)``: at most 10
        sweeps, stop when the joint table changed by less than 1 (person) in a sweep.
        Overrides ``max_iter``, ``tol``, ``tol_type`` and ``criterion``. R's default stops
        early: margins may be off by up to about one person.
    collapse : mapping, optional
        ``{margin: {category: other_category}}``: merge cells before raking (reported).
    on_fail : {"raise", "warn"}, default "raise"
        What to do when the sweeps do not converge within ``max_iter``.

    Returns
    -------
    SurveyDesign or ReplicateDesign
        A new design with ``calibration_info`` = ``{"method": "rake", "iterations",
        "converged", "max_abs_gap": {margin: gap}, ...}``. A Taylor design's variance
        uses R's raking linearisation (ten sweeps of margin-mean removal from the
        influence values); a replicate design rakes every replicate column, with the
        number of sweeps of the full sample (as R).

    Raises
    ------
    WeightingError
        Before any iteration: unknown columns, a category in the data missing from a
        margin, a negative or zero target for a category with respondents, a margin
        category without respondents (``"agegrp = middle: target 250 but no respondents"``,
        suggesting a collapse), margins whose totals disagree by more than
        ``TOTALS_RTOL`` (1e-6) relative, a margin adding up to fewer people than the
        respondents it covers (proportions given instead of counts).
    ConvergenceError
        Not converged within ``max_iter`` sweeps (``on_fail="raise"``); the message names
        the worst margin, its category and the gap.

    Notes
    -----
    Margin totals that agree within ``TOTALS_RTOL = 1e-6`` relative (published tables
    rounded differently) are accepted and every margin is rescaled to the first margin's
    total (factor within 1 ± 1e-6, recorded as ``rescaled`` in the margin's info), so the
    sweeps can meet all margins exactly; without this, totals differing by 1e-7 can never
    be met together and the sweeps would not converge.

    Raking only depends on the joint cell of the margin variables, so the iteration runs
    on the weighted joint table (at most a few thousand cells) and the respondents'
    weights are updated once at the end: 1 million respondents rake in milliseconds.

    References
    ----------
    Deming, W. E. & Stephan, F. F. (1940). On a least squares adjustment of a sampled
    frequency table when the expected marginal totals are known. *Ann. Math. Stat.* 11.
    Deville, J.-C., Särndal, C.-E. & Sautory, O. (1993). *JASA* 88, 1013-1020.
    Lumley, T. (2010). *Complex Surveys*, §7.3.
    """
    _check_design(design, "rake")
    if r_default:
        max_iter, tol, tol_type, criterion = 10, 1.0, "absolute", "change"
    if tol_type not in ("relative", "absolute"):
        raise WeightingError(f"rake: tol_type={tol_type!r}; use 'relative' or 'absolute'")
    if criterion not in ("gap", "change"):
        raise WeightingError(f"rake: criterion={criterion!r}; use 'gap' or 'change'")
    if on_fail not in ("raise", "warn"):
        raise WeightingError(f"rake: on_fail={on_fail!r}; use 'raise' or 'warn'")
    if not (isinstance(max_iter, (int, np.integer)) and max_iter >= 1):
        raise WeightingError(f"rake: max_iter must be a positive integer, got {max_iter!r}")
    if not (tol > 0 and math.isfinite(tol)):
        raise WeightingError(f"rake: tol must be positive and finite, got {tol!r}")
    items = _normalise_margins(margins, "rake")
    collapse = dict(collapse or {})
    unknown = [k for k in collapse if k not in dict(items)]
    if unknown:
        raise WeightingError(
            f"rake: collapse names margins {unknown} that are not in margins {[_key_name(k) for k, _ in items]}"
        )
    ms = [_match_margin(design, k, v, "rake", collapse=collapse.get(k)) for k, v in items]
    ms = _check_totals_agree(ms, "rake")
    _check_counts(design, ms, "rake")
    n = design._n
    # joint cell of all margins
    joint = np.zeros(n, dtype=np.int64)
    bad = np.zeros(n, dtype=bool)
    for m in ms:
        bad |= m.codes < 0
        joint = joint * (len(m.labels) + 1) + np.maximum(m.codes, 0)
        if joint.max(initial=0) > 2**52:
            joint = pd.factorize(joint)[0].astype(np.int64)
    any_bad = bool(bad.any())
    if any_bad:
        joint = np.where(bad, -1, joint)
    cell, _ = pd.factorize(joint, sort=False)
    cell = cell.astype(np.int64)
    # the "-1" joint value (rows outside, weight 0) is its own factor level: map to -1
    outside_level = -1
    if any_bad:
        outside_level = int(cell[np.flatnonzero(bad)[0]])
        cell = np.where(bad, -1, np.where(cell > outside_level, cell - 1, cell))
    C = int(cell.max(initial=-1)) + 1
    ok = cell >= 0
    cell_cat = []  # (C,) category of each cell, per margin (constant within a cell)
    for m in ms:
        cc = np.zeros(C, dtype=np.int64)
        if any_bad:
            cc[cell[ok]] = m.codes[ok]
        else:
            cc[cell] = m.codes
        cell_cat.append(cc)
    W0 = _rep_matrix(design)
    table0 = _group_sum(cell, C, W0)  # (C, 1+R)
    res = _ipf(table0, cell_cat, [m.targets for m in ms], max_iter, tol, tol_type, criterion)
    F = res["factor"]  # (C, 1+R)
    W1 = np.where(ok[:, None], W0 * F[np.maximum(cell, 0)], W0) if any_bad else W0 * F[cell]
    gaps = {m.name: g for m, g in zip(ms, res["gaps"])}
    info = {
        "method": "rake",
        "iterations": res["iterations"],
        "converged": res["converged"],
        "criterion": criterion,
        "tol": tol,
        "tol_type": tol_type,
        "max_iter": max_iter,
        "max_abs_gap": gaps,
        "worst": res["worst"],
        "dropped": [d for m in ms for d in m.info["dropped"]],
        "collapsed": [dict(d, margin=m.name) for m in ms for d in m.info["collapsed"]],
        "replicate_cells_unadjusted": res["unadjusted"],
    }
    if not res["converged"]:
        mname, cat, gap, target = res["worst"]
        msg = (
            f"rake did not converge in {res['iterations']} sweeps (criterion {criterion!r}, tol {tol:g} {tol_type}): "
            f"worst margin {ms[mname].name!r}, category {_label_text(ms[mname].labels[cat])!r}: weighted total "
            f"{target + gap:.10g} vs target {target:.10g} (gap {gap:.4g}). Raise max_iter, loosen tol, or collapse "
            "sparse categories (margins that cannot be met together, e.g. crossed structural zeros, never converge)"
        )
        if on_fail == "raise":
            raise ConvergenceError(msg)
        warnings.warn(msg, WeightingWarning, stacklevel=2)
    adjuster = None
    if not _is_rep(design):
        adjuster = _RakeAdjuster(
            cell, [m.codes for m in ms], [len(m.labels) for m in ms], W0[:, 0].copy(), res["psw_factors"]
        )
    return _finish(design, W1, adjuster, info)


def _ipf(table0, cell_cat, targets, max_iter, tol, tol_type, criterion) -> dict:
    """Iterative proportional fitting on the joint table (C × m), all weight columns at once."""
    mats = [_group_matrix(cc, len(t)) for cc, t in zip(cell_cat, targets)]
    cur = table0.copy()
    total0 = float(table0[:, 0].sum())
    if criterion == "change":
        eps = tol * total0 if tol_type == "relative" else tol
    converged = False
    it = 0
    psw_factors = None
    unadjusted = 0
    gaps = None
    while it < max_iter:
        prev = cur
        sweep_factors = []
        for M, cc, t in zip(mats, cell_cat, targets):
            tot = np.asarray(M @ cur)  # (K, m)
            with np.errstate(divide="ignore", invalid="ignore"):
                fac = np.where(tot > 0, t[:, None] / tot, 1.0)
            unadjusted_now = int(((tot <= 0) & (t[:, None] > 0)).sum())
            cur = cur * fac[cc]
            with np.errstate(divide="ignore", invalid="ignore"):
                sweep_factors.append(np.where(table0[:, 0] > 0, cur[:, 0] / table0[:, 0], 1.0))
            unadjusted = max(unadjusted, unadjusted_now)
        it += 1
        psw_factors = sweep_factors
        if criterion == "change":
            delta = float(np.max(np.abs(cur[:, 0] - prev[:, 0])))
            if delta < eps:
                converged = True
                break
        else:
            worst = 0.0
            for M, t in zip(mats, targets):
                got = np.asarray(M @ cur[:, 0])
                g = np.abs(got - t)
                if tol_type == "relative":
                    g = g / t
                worst = max(worst, float(g.max()))
            if worst < tol:
                converged = True
                break
    # report gaps per margin (full sample)
    gaps, worst_rec, worst_val = [], None, -1.0
    for j, (M, t) in enumerate(zip(mats, targets)):
        got = np.asarray(M @ cur[:, 0])
        d = got - t
        gaps.append(float(np.max(np.abs(d))))
        k = int(np.argmax(np.abs(d) / t))
        rel = abs(d[k]) / t[k]
        if rel > worst_val:
            worst_val, worst_rec = rel, (j, k, float(d[k]), float(t[k]))
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(table0 > 0, cur / table0, 1.0)
    return {
        "factor": factor,
        "iterations": it,
        "converged": converged,
        "gaps": gaps,
        "worst": worst_rec,
        "psw_factors": psw_factors,
        "unadjusted": unadjusted,
    }


class _RakeAdjuster:
    """svyrecvar's raking step: 10 sweeps of z - psw·ave(z/psw, margin), psw from R's last sweep."""

    def __init__(self, cell, codes_list, sizes, w0, psw_factors):
        self.cell = cell
        self.codes_list = codes_list
        self.sizes = sizes
        self.w0 = w0
        self.psw_factors = psw_factors

    def __call__(self, Z: np.ndarray) -> np.ndarray:
        counts = [np.bincount(c[c >= 0], minlength=k).astype(float) for c, k in zip(self.codes_list, self.sizes)]
        ok = self.cell >= 0
        psws = []
        for f in self.psw_factors:
            p = self.w0.copy()
            p[ok] = self.w0[ok] * f[self.cell[ok]]
            psws.append(p)
        mats = [_group_matrix(c, k) for c, k in zip(self.codes_list, self.sizes)]
        Z = Z.copy()
        for _ in range(10):
            for M, codes, cnt, psw in zip(mats, self.codes_list, counts, psws):
                with np.errstate(divide="ignore", invalid="ignore"):
                    Y = np.where((psw > 0)[:, None], Z / psw[:, None], 0.0)
                    means = np.asarray(M @ Y) / np.where(cnt > 0, cnt, 1.0)[:, None]
                sel = codes >= 0
                Z[sel] -= psw[sel, None] * means[codes[sel]]
        return Z


# ---------------------------------------------------------------------------
# calibration (GREG / generalised raking)
# ---------------------------------------------------------------------------


def _calfun(method: str, bounds):
    L, U = bounds
    if method == "linear":

        def Fm1(u):
            return np.minimum(np.maximum(u + 1, L), U) - 1

        def dF(u):
            return ((u < U - 1) & (u > L - 1)).astype(float)

    elif method == "raking":

        def Fm1(u):
            with np.errstate(over="ignore"):
                return np.minimum(np.maximum(np.exp(u), L), U) - 1

        def dF(u):
            with np.errstate(over="ignore"):
                return np.where((u < U - 1) & (u > L - 1), np.exp(u), 0.0)

    elif method == "logit":
        A = (U - L) / ((U - 1) * (1 - L))

        def Fm1(u):
            with np.errstate(over="ignore", invalid="ignore"):
                e = np.exp(A * u)
                return (L * (U - 1) + U * (1 - L) * e) / (U - 1 + (1 - L) * e) - 1

        def dF(u):
            with np.errstate(over="ignore", invalid="ignore"):
                e = np.exp(A * u)
                den = U - 1 + (1 - L) * e
                return U * (1 - L) * e * A / den - ((L * (U - 1) + U * (1 - L) * e) * ((1 - L) * e * A)) / den**2

    else:
        raise WeightingError(f"calibrate: method={method!r}; use 'linear', 'raking' or 'logit'")
    return Fm1, dF


def _gram(X: np.ndarray, Wd: np.ndarray) -> np.ndarray:
    """X' diag(Wd[:, r]) X for every column r: (m, k, k), in row blocks."""
    n, k = X.shape
    m = Wd.shape[1]
    if m == 1:
        G = X.T @ (X * Wd[:, :1])
        return G[None]
    out = np.zeros((k * k, m))
    step = max(1, int(2e7 // max(k * k, 1)))
    for s in range(0, n, step):
        Xs = X[s : s + step]
        XX = (Xs[:, :, None] * Xs[:, None, :]).reshape(Xs.shape[0], k * k)
        out += XX.T @ Wd[s : s + step]
    return out.T.reshape(m, k, k)


def _grake(X, W, T, method, bounds, max_iter, eps):
    """R's ``grake`` (Newton iterations with step halving), for all weight columns at once.

    Returns g (n × m), iterations per column, failed (achieved misfit or NaN), misfit (k × m).
    """
    n, k = X.shape
    m = W.shape[1]
    Fm1, dF = _calfun(method, bounds)
    W = W.astype(float).copy()
    st = X.T @ W  # (k, m)
    with np.errstate(divide="ignore", invalid="ignore"):
        scales = T[:, None] / st
    scale = np.ones(m)
    resc = np.nanmin(np.where(np.isfinite(scales), scales, np.nan), axis=0) > 20
    if resc.any():
        scale[resc] = np.nanmean(np.where(np.isfinite(scales[:, resc]), scales[:, resc], np.nan), axis=0)
        W[:, resc] *= scale[resc]
        st[:, resc] *= scale[resc]
        if np.isfinite(bounds).any():
            warnings.warn(
                f"calibrate: weights rescaled by {scale[resc][0]:.3g} before calibration (population totals are "
                "more than 20 times the sample totals); the bounds apply after that rescaling, as in R",
                WeightingWarning,
                stacklevel=3,
            )
    eta = np.zeros((k, m))
    g = np.ones((n, m)) + Fm1(np.zeros((n, m)))
    deriv = dF(np.zeros((n, m)))
    iters = np.ones(m, dtype=int)
    done = np.zeros(m, dtype=bool)
    failed = np.full(m, np.nan)
    misfit_all = np.zeros((k, m))
    denom = 1 + np.abs(T)[:, None]
    active = np.arange(m)
    while active.size:
        a = active
        Wa = W[:, a]
        G = _gram(X, Wa * deriv[:, a])
        sick = ~np.isfinite(G).all(axis=(1, 2))
        if sick.any():  # only reachable when step halving ran out of iterations
            failed[a[sick]] = np.inf
            done[a[sick]] = True
            active = a[~sick]
            continue
        xeta = X @ eta[:, a]
        misfit = T[:, None] - st[:, a] - X.T @ (Wa * Fm1(xeta))
        deta = np.einsum("mij,jm->im", np.linalg.pinv(G, rcond=256 * np.finfo(float).eps), misfit)
        eta[:, a] += deta
        xeta = X @ eta[:, a]
        ga = 1 + Fm1(xeta)
        da = dF(xeta)
        while True:
            bad = ~(np.isfinite(ga).all(axis=0) & np.isfinite(da).all(axis=0)) & (iters[a] < max_iter)
            if not bad.any():
                break
            b = np.flatnonzero(bad)
            iters[a[b]] += 1
            deta[:, b] /= 2
            eta[:, a[b]] -= deta[:, b]
            xb = X @ eta[:, a[b]]
            ga[:, b] = 1 + Fm1(xb)
            da[:, b] = dF(xb)
        g[:, a] = ga
        deriv[:, a] = da
        misfit = T[:, None] - st[:, a] - X.T @ (Wa * Fm1(X @ eta[:, a]))
        misfit_all[:, a] = misfit
        conv = np.all(np.abs(misfit) / denom < eps, axis=0)
        finished = conv.copy()
        iters[a[~conv]] += 1
        over = (~conv) & (iters[a] > max_iter)
        if over.any():
            failed[a[over]] = np.max(np.abs(misfit[:, over]) / denom, axis=0)
            finished |= over
        done[a[finished]] = True
        active = a[~finished]
    g = g * scale[None, :]
    return g, iters, failed, misfit_all


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def _numeric_column(design, col, what):
    s = design._data[col]
    if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        if pd.api.types.is_bool_dtype(s):
            s = s.astype(float)
        else:
            raise WeightingError(
                f"{what}: {col!r} has a single population total, so it must be a numeric column; it is {s.dtype}. "
                f"Give a categorical margin as {{{col!r}: {{category: count}}}}"
            )
    x = s.to_numpy(dtype="float64", na_value=np.nan)
    bad = ~np.isfinite(x) & (design._w != 0)
    if bad.any():
        raise WeightingError(
            f"{what}: calibration variable {col!r} is missing or infinite for {int(bad.sum())} respondents "
            f"(rows {describe_rows(design._data.index[bad])}); impute it before calibrating"
        )
    return np.where(np.isfinite(x), x, 0.0)


def _parse_r_style(design, population: dict, what: str) -> dict:
    """Turn R-style model totals {"(Intercept)": N, "stypeH": 755, "api99": t} into margins.

    Returns {"intercept": N or None, "cats": {col: {level: N_level}} (non-reference levels),
    "nums": {col: total}}.
    """
    data = design._data
    cols = [c for c in data.columns if isinstance(c, str)]
    out = {"intercept": None, "cats": {}, "nums": {}}
    for key, val in population.items():
        if not _is_number(val):
            raise WeightingError(f"{what}: R-style total {key!r} must be a number, got {val!r}")
        if not math.isfinite(float(val)):
            raise WeightingError(
                f"{what}: the total for {key!r} is not finite ({val!r}); give it as a finite number, or leave "
                f"{key!r} out of the calibration"
            )
        if key == "(Intercept)":
            out["intercept"] = float(val)
            continue
        if key in data.columns:
            out["nums"][key] = float(val)
            continue
        found = None
        for c in sorted(cols, key=len, reverse=True):
            if isinstance(key, str) and key.startswith(c) and len(key) > len(c):
                lev = key[len(c) :]
                levels = {str(_nfc(v)) for v in pd.unique(data[c].dropna())}
                if _nfc(lev) in levels:
                    found = (c, _nfc(lev))
                    break
        if found is None:
            raise WeightingError(
                f"{what}: population total {key!r} matches no column and no 'column+level' term of the data; "
                "R-style totals are '(Intercept)', numeric column names and factor terms such as 'stypeH'"
            )
        out["cats"].setdefault(found[0], {})[found[1]] = float(val)
    return out


def _r_level_order(design, m: _Margin) -> _Margin:
    """Reorder a margin's categories as R's factor levels (categorical dtype order, else
    sorted), so the first is the reference level of the treatment contrasts. The
    calibrated weights do not depend on the coding when the iterations converge; when
    they do not (bounds too tight), R's coding gives R's last iterate."""
    key = m.key
    cols = key if isinstance(key, tuple) else (key,)

    def sort_key(lab):
        lab_t = lab if isinstance(lab, tuple) else (lab,)
        out = []
        for c, v in zip(cols, lab_t):
            s = design._data[c]
            if isinstance(s.dtype, pd.CategoricalDtype):
                cats = [_canon(x) for x in s.cat.categories]
                out.append((0, cats.index(_canon(v)) if _canon(v) in cats else len(cats), ""))
            elif isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
                out.append((1, float(v), ""))
            else:
                out.append((2, 0.0, str(_nfc(v))))
        return tuple(out)

    order = sorted(range(len(m.labels)), key=lambda i: sort_key(m.labels[i]))
    if order == list(range(len(m.labels))):
        return m
    inv = np.empty(len(order), dtype=np.int64)
    inv[np.asarray(order)] = np.arange(len(order))
    codes = np.where(m.codes >= 0, inv[np.maximum(m.codes, 0)], -1)
    return _Margin(m.key, m.name, codes, [m.labels[i] for i in order], m.targets[order], m.info)


def _formula_terms(formula, what: str) -> list:
    if isinstance(formula, str):
        body = formula.strip()
        if body.startswith("~"):
            body = body[1:]
        terms = [t.strip() for t in body.split("+") if t.strip()]
        out = []
        for t in terms:
            if t in ("1", "0", "-1"):
                continue
            out.append(tuple(x.strip() for x in t.split(":")) if ":" in t else t)
        return out
    if isinstance(formula, (list, tuple)):
        return list(formula)
    raise WeightingError(
        f"{what}: formula must be a string like '~stype + api99' or a list of columns, got {formula!r}"
    )


def _prepare_population(design, population, formula, what: str) -> dict:
    """Resolve the accepted spellings of population information into calibrate's mapping.

    Accepts the R-style totals, the margins mapping, and a population block such as
    ``{"N": 6194, "stype": {...}, "api99_total": 3914069}`` (``N`` = population size,
    ``<column>_total`` = a numeric total). With ``formula`` only its terms are used.
    """
    if not isinstance(population, Mapping) or not population:
        raise WeightingError(f"{what}: population must be a non-empty mapping of margins and totals")
    data = design._data
    pop = dict(population)
    N = None
    for key in ("N", "(Intercept)"):
        if key in pop and key not in data.columns and _is_number(pop[key]):
            N = float(pop[key])
    if formula is not None:
        terms = _formula_terms(formula, what)
        out = {}
        r_keys = [
            k
            for k in pop
            if isinstance(k, str)
            and k != "(Intercept)"
            and k not in data.columns
            and _is_number(pop[k])
            and not k.endswith("_total")
            and k != "N"
        ]
        for t in terms:
            if t in pop and (
                isinstance(pop[t], Mapping) or isinstance(pop[t], (pd.Series, pd.DataFrame)) or _is_number(pop[t])
            ):
                out[t] = pop[t]
            elif isinstance(t, str) and f"{t}_total" in pop:
                out[t] = pop[f"{t}_total"]
            else:
                pref = [k for k in r_keys if isinstance(t, str) and k.startswith(t)]
                if not pref:
                    raise WeightingError(
                        f"{what}: no population information for formula term {t!r}; give {{{t!r}: {{category: count}}}} "
                        f"for a categorical variable or {{{t!r}: total}} for a numeric one"
                    )
                for k in pref:
                    out[k] = pop[k]
        if any(isinstance(k, str) and k not in data.columns for k in out if not isinstance(k, tuple)) or (
            N is not None and not any(isinstance(v, Mapping) for v in out.values())
        ):
            if N is None:
                raise WeightingError(f"{what}: R-style factor totals need '(Intercept)' (or 'N'), the population size")
            out["(Intercept)"] = N
        elif N is not None:
            _check_n(out, N, what)
        return out
    out = {}
    for k, v in pop.items():
        if k in ("N", "(Intercept)") and k not in data.columns:
            continue
        if (
            isinstance(k, str)
            and k.endswith("_total")
            and k not in data.columns
            and k[: -len("_total")] in data.columns
        ):
            out[k[: -len("_total")]] = v
        elif isinstance(v, str):
            raise WeightingError(
                f"{what}: population entry {k!r} is text ({v!r}); give a number or a mapping of counts"
            )
        else:
            out[k] = v
    r_style = any(isinstance(k, str) and k not in data.columns and _is_number(v) for k, v in out.items())
    if N is not None:
        if r_style or not any(isinstance(v, (Mapping, pd.Series, pd.DataFrame)) for v in out.values()):
            out["(Intercept)"] = N
        else:
            _check_n(out, N, what)
    return out


def _check_n(out: dict, N: float, what: str):
    for k, v in out.items():
        if isinstance(v, Mapping):
            tot = float(sum(float(x) for x in v.values()))
            if abs(tot - N) > 1e-6 * abs(N):
                raise WeightingError(
                    f"{what}: margin {_key_name(k)!r} adds up to {tot:.10g} but the population size N is {N:.10g}; "
                    "margins and N must agree"
                )


def _model_cells(margins, terms, n):
    """(cell codes, first row of each cell, number of cells) when every model column is an
    intercept or a category indicator; None when a numeric variable is present."""
    n_cat = sum(len(m.labels) - 1 for m in margins)
    has_int = "(Intercept)" in terms
    if not margins or len(terms) != n_cat + int(has_int):
        return None
    joint = np.zeros(n, dtype=np.int64)
    for m in margins:
        joint = joint * (len(m.labels) + 1) + np.where(m.codes >= 0, m.codes, len(m.labels))
        if joint.max(initial=0) > 2**52:
            joint = pd.factorize(joint)[0].astype(np.int64)
    cell, _ = pd.factorize(joint, sort=False)
    cell = cell.astype(np.int64)
    C = int(cell.max()) + 1
    first = np.zeros(C, dtype=np.int64)
    first[cell[::-1]] = np.arange(n)[::-1]
    return cell, first, C


def _build_model(design, population, what: str, collapse):
    """Model matrix X (n × k), totals T (k,), term names and the categorical margins.

    Categorical margins are coded with an intercept and treatment contrasts (first level
    of each margin as reference), as R's ``model.matrix``; the calibrated weights do not
    depend on the coding, only on the column space.
    """
    if not isinstance(population, Mapping) or not population:
        raise WeightingError(f"{what}: population must be a non-empty mapping of margins and totals")
    data = design._data
    n = design._n
    collapse = dict(collapse or {})
    r_style = "(Intercept)" in population or any(
        isinstance(k, str) and k not in data.columns and _is_number(v) for k, v in population.items()
    )
    terms: list[str] = []
    cols: list[np.ndarray] = []
    totals: list[float] = []
    margins: list[_Margin] = []
    nums: dict = {}
    if r_style:
        parsed = _parse_r_style(design, population, what)
        N = parsed["intercept"]
        if parsed["cats"] and N is None:
            raise WeightingError(
                f"{what}: factor totals {list(parsed['cats'])} need the '(Intercept)' total (the population size) "
                "to define the reference category"
            )
        if N is not None:
            if N <= 0:
                raise WeightingError(f"{what}: '(Intercept)' (population size) must be positive, got {N}")
            terms.append("(Intercept)")
            cols.append(np.ones(n))
            totals.append(N)
        for c, levs in parsed["cats"].items():
            _, labels = _encode_column(data, c, design._w, what)
            lab_str = [str(x) for x in labels]
            present = sorted(set(lab_str))
            ref = [lv for lv in present if lv not in levs]
            if len(ref) != 1:
                raise WeightingError(
                    f"{what}: R-style totals for factor {c!r} must give every level but one (the reference); "
                    f"data levels {present}, totals given for {sorted(levs)}"
                )
            ref_total = N - sum(levs.values())
            full = {**levs, ref[0]: ref_total}
            margins.append(_match_margin(design, c, full, what, collapse=collapse.get(c)))
        for c, t in parsed["nums"].items():
            nums[c] = t
    else:
        N = None
        for key, val in population.items():
            if _is_number(val):
                if isinstance(key, tuple) or key not in data.columns:
                    raise WeightingError(f"{what}: numeric total for {key!r}, which is not a column of the data")
                if not math.isfinite(float(val)):
                    raise WeightingError(
                        f"{what}: the total for {key!r} is not finite ({val!r}); give the population total of "
                        f"{key!r} as a finite number, or leave {key!r} out of the calibration"
                    )
                nums[key] = float(val)
            else:
                margins.append(_match_margin(design, key, val, what, collapse=collapse.get(key)))
        if margins:
            margins = _check_totals_agree(margins, what)
            N = float(margins[0].targets.sum())
            terms.append("(Intercept)")
            cols.append(np.ones(n))
            totals.append(N)
    _check_counts(design, margins, what, N if r_style else None)
    margins = [_r_level_order(design, m) for m in margins]
    for m in margins:
        K = len(m.labels)
        for j in range(1, K):
            terms.append(f"{m.name}={_label_text(m.labels[j])}")
            cols.append((m.codes == j).astype(float))
            totals.append(float(m.targets[j]))
    for c, t in nums.items():
        terms.append(str(c))
        cols.append(_numeric_column(design, c, what))
        totals.append(t)
    X = np.column_stack(cols) if cols else np.zeros((n, 0))
    T = np.asarray(totals, dtype=float)
    # R drops columns with zero sample total AND zero population total
    st = X.T @ design._w
    drop = (st == 0) & (T == 0) & np.all(X == 0, axis=0)
    if drop.any():
        X, T = X[:, ~drop], T[~drop]
        terms = [t for t, d in zip(terms, drop) if not d]
    return X, T, terms, margins


def calibrate(
    design,
    population,
    method: str = "linear",
    bounds=None,
    max_iter: int = 50,
    tol: float = 1e-7,
    collapse=None,
    force: bool = False,
    formula=None,
) -> SurveyDesign | ReplicateDesign:
    """Calibrate a design to population totals (Deville & Särndal 1992; R ``calibrate``).

    Finds weights ``w_i = d_i g_i`` close to the input weights ``d_i`` (in the distance
    of ``method``) whose weighted totals of the calibration variables equal the population
    totals: ``Σ w_i x_i = T_x``.

    Parameters
    ----------
    design : SurveyDesign or ReplicateDesign
        The full design.
    population : mapping
        Categorical margins as ``{column: {category: count}}`` (or crossed
        ``{(col1, col2): {(a, b): count}}``) and numeric totals as ``{column: total}``,
        e.g. ``{"commune": {...}, "agegrp": {...}, "income": 1.2e9}``. All categorical
        margins must add up to the same population size N. R-style model totals are also
        accepted: ``{"(Intercept)": N, "stypeH": 755, "stypeM": 1018, "api99": 3914069}``
        (intercept = N, treatment-coded factor levels, numeric columns).
    method : {"linear", "raking", "logit"}, default "linear"
        Distance function: "linear" (chi-square distance, the GREG estimator; weights can
        become negative unless bounded), "raking" (multiplicative, g = exp(x'λ), always
        positive; the same weights as ``rake`` at convergence), "logit" (bounded: ``L <
        g < U``; needs finite ``bounds``).
    bounds : (float, float), optional
        Bounds ``(L, U)`` on the g-weights ``w_i / d_i`` with ``L < 1 < U``. Required for
        "logit"; optional (truncation) for "linear" and "raking".
    max_iter : int, default 50
        Newton iterations (R's ``maxit``).
    tol : float, default 1e-7
        Stop when every ``|achieved - target| / (1 + |target|) < tol`` (R's ``epsilon``).
    collapse : mapping, optional
        ``{margin: {category: other_category}}``: merge cells first (reported).
    force : bool, default False
        True: return the non-converged weights with a :class:`WeightingWarning` instead of
        raising (R's ``force=TRUE``).
    formula : str or list, optional
        The calibration model, ``"~stype + api99"`` or ``["stype", "api99"]`` (a crossed
        term ``"a:b"`` or tuple ``("a", "b")``). Only these terms are taken from
        ``population``, which may then be a fuller population block such as
        ``{"N": 6194, "stype": {...}, "sch.wide": {...}, "api99_total": 3914069}``
        (``N`` = population size, ``<column>_total`` = a numeric total).

    Returns
    -------
    SurveyDesign or ReplicateDesign
        A new design with ``calibration_info`` (method, iterations, converged, g-weight
        range, max_abs_gap per margin). Taylor variances use residuals of the influence
        values from their design-weighted regression on the calibration variables (R's
        ``svyrecvar``); replicate designs calibrate every replicate column.

    Raises
    ------
    WeightingError
        Unknown columns, categories missing from a margin, empty categories with a
        positive target, negative or zero targets for occupied categories, margin totals
        disagreeing by more than ``TOTALS_RTOL`` (1e-6) relative (closer totals are
        rescaled to the first margin's, as in :func:`rake`), a population size (margin
        total or ``(Intercept)``) smaller than the number of respondents (proportions given
        instead of counts), a numeric total that is NaN or infinite ("the total for 'x' is
        not finite"), non-numeric numeric-total columns, missing calibration variables,
        bad bounds, or linear calibration with totals it cannot reach (collinear
        variables with inconsistent totals).
    ConvergenceError
        The Newton iterations did not converge in ``max_iter`` (the message names the
        worst total and its gap); bounds too tight for the targets are the usual cause.

    Notes
    -----
    The algorithm is R ``survey``'s ``grake``: Newton steps with a generalised inverse,
    step halving on overflow, and (as R) a rescaling of the weights when every
    population total exceeds 20 times its sample estimate. Unbounded linear calibration
    converges in one step. Replicate columns are solved together (batched Gram matrices).
    When every calibration variable is categorical, ``g`` depends only on the respondent's
    cell, so the iterations run on the distinct cells with summed weights (1 million
    respondents in about a second).

    References
    ----------
    Deville, J.-C. & Särndal, C.-E. (1992). Calibration estimators in survey sampling. *JASA* 87.
    Lumley, T. (2010). *Complex Surveys*, §7.4-7.5.
    """
    _check_design(design, "calibrate")
    method, L, U = _calibration_options(method, bounds, max_iter, tol)
    population = _prepare_population(design, population, formula, "calibrate")
    X, T, terms, margins = _build_model(design, population, "calibrate", collapse)
    if X.shape[1] == 0:
        raise WeightingError("calibrate: no calibration totals left")
    W0 = _rep_matrix(design)
    cells = _model_cells(margins, terms, design._n)
    if cells is not None:
        # only categorical terms: g depends on the row of X alone, so solve on the distinct
        # rows with summed weights (the Newton equations only involve weighted sums)
        cell, first, C = cells
        Gc, iters, failed, _ = _grake(X[first], _group_sum(cell, C, W0), T, method, (L, U), max_iter, tol)
        G = Gc[cell]
    else:
        G, iters, failed, _ = _grake(X, W0, T, method, (L, U), max_iter, tol)
    W1 = W0 * G
    achieved, conv0, rep_failed = _check_calibration(X, T, W0, W1, terms, method, L, U, iters, failed, tol, force)
    info = _calibration_info(method, X, T, W0, W1, terms, margins, achieved, iters, conv0, L, U, rep_failed)
    adjuster = None
    if not _is_rep(design):
        adjuster = _GregAdjuster(X, W0[:, 0].copy(), W1[:, 0].copy())
    return _finish(design, W1, adjuster, info)


def _calibration_options(method, bounds, max_iter, tol):
    """Check calibrate()'s options; return (method, lower bound, upper bound) of the g-weights."""
    method = str(method).lower()
    if method == "greg":
        method = "linear"
    if method not in ("linear", "raking", "logit"):
        raise WeightingError(f"calibrate: method={method!r}; use 'linear' (GREG), 'raking' or 'logit'")
    if bounds is None:
        if method == "logit":
            raise WeightingError(
                "calibrate: logit calibration needs finite bounds on the g-weights, e.g. bounds=(0.5, 3.0)"
            )
        bounds = (-np.inf, np.inf)
    try:
        L, U = (float(bounds[0]), float(bounds[1]))
    except (TypeError, ValueError, IndexError):
        raise WeightingError(f"calibrate: bounds must be a pair (lower, upper), got {bounds!r}") from None
    if not L < 1 < U:
        raise WeightingError(
            f"calibrate: bounds {bounds!r} must satisfy lower < 1 < upper (g = 1 leaves a weight unchanged)"
        )
    if method == "logit" and not (math.isfinite(L) and math.isfinite(U)):
        raise WeightingError(f"calibrate: logit calibration needs finite bounds, got {bounds!r}")
    if not (isinstance(max_iter, (int, np.integer)) and max_iter >= 1):
        raise WeightingError(f"calibrate: max_iter must be a positive integer, got {max_iter!r}")
    if not (tol > 0 and math.isfinite(tol)):
        raise WeightingError(f"calibrate: tol must be positive, got {tol!r}")
    return method, L, U


def _check_calibration(X, T, W0, W1, terms, method, L, U, iters, failed, tol, force):
    """Refuse (or with ``force`` warn about) totals not reached; restore non-finite replicate weights.

    Returns (achieved totals, converged?, number of replicate columns that did not converge).
    """
    # linear calibration with unreachable totals (collinear X, inconsistent T)
    finite0 = bool(np.isfinite(W1[:, 0]).all())
    if not finite0:  # overflow that step halving could not cure: keep the input weights for the report
        W1[:, 0] = np.where(np.isfinite(W1[:, 0]), W1[:, 0], W0[:, 0])
    achieved = X.T @ W1[:, 0]
    rel = np.abs(achieved - T) / (1 + np.abs(T))
    worst = int(np.nanargmax(np.where(np.isfinite(rel), rel, np.inf)))
    conv0 = bool(np.isnan(failed[0])) and finite0
    if not conv0 or not (rel[worst] < max(tol, 1e-6)):
        msg = (
            f"calibrate ({method}) did not reach the totals in {int(iters[0])} iterations: worst total "
            f"{terms[worst]!r}: achieved {achieved[worst]:.10g} vs target {T[worst]:.10g} (gap {achieved[worst] - T[worst]:.4g}). "
        )
        if method == "linear" and not np.isfinite(L) and not np.isfinite(U):
            raise WeightingError(
                msg + "Linear calibration solves in one step, so the totals are inconsistent with each other "
                "(collinear calibration variables with different totals); check the population table"
            )
        msg += "Widen the bounds, raise max_iter, or collapse sparse categories"
        if not force or not finite0:
            raise ConvergenceError(msg)
        warnings.warn(msg, WeightingWarning, stacklevel=3)
    bad_rep = ~np.isnan(failed[1:]) | ~np.isfinite(W1[:, 1:]).all(axis=0)
    if bad_rep.any():
        W1[:, 1:][:, bad_rep] = np.where(
            np.isfinite(W1[:, 1:][:, bad_rep]), W1[:, 1:][:, bad_rep], W0[:, 1:][:, bad_rep]
        )
    rep_failed = int(bad_rep.sum())
    if rep_failed:
        warnings.warn(
            f"calibrate: {rep_failed} replicate column(s) did not converge; their weights are the last iterate",
            WeightingWarning,
            stacklevel=3,
        )
    return achieved, conv0, rep_failed


def _calibration_info(method, X, T, W0, W1, terms, margins, achieved, iters, conv0, L, U, rep_failed) -> dict:
    """The calibration report (terms, totals, iterations, g range, gaps); warns about negative weights."""
    gaps = {}
    for m in margins:
        got = _group_sum(m.codes, len(m.labels), W1[:, 0])
        gaps[m.name] = float(np.max(np.abs(got - m.targets)))
    for j, t in enumerate(terms):
        if "=" not in t and t != "(Intercept)":
            gaps[t] = float(abs(achieved[j] - T[j]))
    with np.errstate(divide="ignore", invalid="ignore"):
        gfull = np.where(W0[:, 0] > 0, W1[:, 0] / W0[:, 0], np.nan)
    info = {
        "method": f"calibrate:{method}",
        "terms": terms,
        "totals": dict(zip(terms, T.tolist())),
        "iterations": int(iters[0]),
        "converged": conv0,
        "bounds": (L, U),
        "g_range": (float(np.nanmin(gfull)), float(np.nanmax(gfull))),
        "max_abs_gap": gaps,
        "dropped": [d for m in margins for d in m.info["dropped"]],
        "collapsed": [dict(d, margin=m.name) for m in margins for d in m.info["collapsed"]],
        "replicates_not_converged": rep_failed,
    }
    if np.nanmin(gfull) < 0:
        warnings.warn(
            f"calibrate: {int(np.sum(gfull < 0))} calibrated weights are negative (linear distance). The "
            "estimates stay consistent with the calibration totals, but negative weights are hard to "
            "explain and can give negative domain estimates: use method='logit' or bounds=(L, U) with L > 0 "
            "to keep every weight positive",
            WeightingWarning,
            stacklevel=3,
        )
    return info


class _GregAdjuster:
    """svyrecvar's calibration step: residuals of the influence values from their
    design-weighted least-squares projection on the calibration variables.

    With Z = w·z (rows, q columns), ``Z_new = w·(z - X β)``, ``β = (X'DX)⁺ X'D z`` and D the
    weights before calibration, i.e. R's ``qr.resid(qr(X·√d), Z/(g√d))·g√d``.
    """

    def __init__(self, X, d, w):
        self.X = X
        self.d = d
        self.w = w
        self.Ginv = None

    def _prepare(self):
        X, d = self.X, self.d
        # column scaling keeps the normal equations well conditioned
        s = np.sqrt(np.maximum((X * X).T @ d, 0.0))
        self.s = np.where(s > 0, s, 1.0)
        Xs = X / self.s
        Gm = Xs.T @ (Xs * d[:, None])
        vals, vecs = np.linalg.eigh(Gm)
        keep = vals > vals.max() * 1e-12
        self.Ginv = (vecs[:, keep] / vals[keep]) @ vecs[:, keep].T

    def __call__(self, Z: np.ndarray) -> np.ndarray:
        if self.Ginv is None:
            self._prepare()
        d, w = self.d, self.w
        with np.errstate(divide="ignore", invalid="ignore"):
            dz = np.where((w != 0)[:, None], Z * (d / w)[:, None], 0.0)  # d·z
        Xs = self.X / self.s
        beta = self.Ginv @ (Xs.T @ dz)
        return Z - w[:, None] * (Xs @ beta)


# ---------------------------------------------------------------------------
# non-response adjustment
# ---------------------------------------------------------------------------


def adjust_nonresponse(
    design_or_frame,
    response_column: str,
    classes=None,
    weights: str | None = None,
    new_weight: str = "weight_nr",
    max_factor: float | None = None,
) -> SurveyDesign | ReplicateDesign | pd.DataFrame:
    """Weighting-class non-response adjustment.

    Within each class c the respondents' weights are multiplied by
    ``f_c = Σ_{i∈s_c} d_i / Σ_{i∈r_c} d_i`` (weight of the whole sample over weight of
    the respondents, the inverse weighted response rate); non-respondents get weight 0.

    Parameters
    ----------
    design_or_frame : SurveyDesign, ReplicateDesign or pandas.DataFrame
        The design of the *whole selected sample* (respondents and non-respondents), or a
        DataFrame of it (then ``weights`` names its weight column).
    response_column : str
        1/True = responded, 0/False = did not. Missing values are an error.
    classes : str or list of str, optional
        Weighting-class column(s) (e.g. commune × age group); None = one class.
    weights : str, optional
        Weight column, required with a DataFrame (ignored for a design).
    new_weight : str, default "weight_nr"
        Name of the adjusted weight column added to a returned DataFrame; it must not be a
        column of the frame already (the copy would silently replace it, e.g. the base
        weights or an analysis variable).
    max_factor : float, optional
        Refuse classes whose adjustment factor exceeds this (e.g. 3: response rate under
        33%), with an error naming them; collapse them first.

    Returns
    -------
    design or DataFrame
        A new design whose weights are the adjusted weights (non-respondents 0: they stay
        in their PSUs but out of every domain), with ``calibration_info["classes"]`` (per
        class: sample, respondents, weighted response rate, factor); for a DataFrame, a
        copy with column ``new_weight``. Taylor designs linearise the adjustment
        (respondent deviations from the class mean plus the class mean carried by every
        sampled unit), so the variance includes the estimation of the response rates;
        replicate designs adjust every replicate column.

    Raises
    ------
    WeightingError
        Unknown columns, a response indicator that is not 0/1, a class without
        respondents (collapse it with a neighbour), a factor above ``max_factor``; a
        ``new_weight`` that already names a column of the DataFrame.

    References
    ----------
    Kalton, G. & Flores-Cervantes, I. (2003). Weighting methods. *J. Official Statistics* 19.
    Särndal, C.-E. & Lundström, S. (2005). *Estimation in Surveys with Nonresponse*. Wiley.
    """
    is_frame = isinstance(design_or_frame, pd.DataFrame)
    if is_frame:
        frame = design_or_frame
        _check_new_column(frame, new_weight, "adjust_nonresponse", "new_weight")
        if weights is None:
            raise WeightingError("adjust_nonresponse: with a DataFrame pass weights='<weight column>'")
        if weights not in frame.columns:
            raise WeightingError(f"adjust_nonresponse: weight column {weights!r} is not in the data")
        w = pd.to_numeric(frame[weights], errors="coerce").to_numpy(dtype=float)
        if not np.isfinite(w).all() or (w < 0).any():
            bad = ~np.isfinite(w) | (w < 0)
            raise WeightingError(
                f"adjust_nonresponse: weight column {weights!r} has missing, non-numeric or negative values at rows "
                f"{describe_rows(frame.index[bad])}"
            )
        data = frame
        W0 = w[:, None]
    else:
        _check_design(design_or_frame, "adjust_nonresponse")
        data = design_or_frame._data
        W0 = _rep_matrix(design_or_frame)
        w = W0[:, 0]
    if response_column not in data.columns:
        raise WeightingError(f"adjust_nonresponse: response column {response_column!r} is not in the data")
    r = data[response_column]
    if r.isna().any():
        raise WeightingError(
            f"adjust_nonresponse: response column {response_column!r} is missing at rows "
            f"{describe_rows(data.index[r.isna()])}; every sampled unit is a respondent (1) or not (0)"
        )
    rv = pd.to_numeric(r.astype("float64") if pd.api.types.is_bool_dtype(r) else r, errors="coerce").to_numpy(
        dtype=float
    )
    bad = ~np.isin(rv, (0.0, 1.0))
    if bad.any():
        raise WeightingError(
            f"adjust_nonresponse: response column {response_column!r} must be 0/1 (or boolean); values "
            f"{sorted(set(map(str, r[bad].unique())))[:5]} at rows {describe_rows(data.index[bad])}"
        )
    resp = rv == 1.0
    n = len(data)
    cls_cols = [] if classes is None else ([classes] if isinstance(classes, str) else list(classes))
    if cls_cols:
        enc = [_encode_column(data, c, np.ones(n), "adjust_nonresponse") for c in cls_cols]
        joint = np.zeros(n, dtype=np.int64)
        for codes, labels in enc:
            joint = joint * (len(labels) + 1) + codes
        cls, uniq = pd.factorize(joint, sort=True)
        cls = cls.astype(np.int64)
        first = np.zeros(len(uniq), dtype=np.int64)
        first[cls[::-1]] = np.arange(n)[::-1]
        names = [", ".join(str(labels[codes[i]]) for codes, labels in enc) for i in first]
    else:
        cls = np.zeros(n, dtype=np.int64)
        names = ["(all)"]
    K = len(names)
    all_tot = _group_sum(cls, K, W0)
    resp_tot = _group_sum(cls, K, W0 * resp[:, None])
    n_all = np.bincount(cls, minlength=K)
    n_resp = np.bincount(cls, weights=resp.astype(float), minlength=K).astype(int)
    empty = np.flatnonzero((resp_tot[:, 0] <= 0) & (all_tot[:, 0] > 0))
    if empty.size:
        raise WeightingError(
            "adjust_nonresponse: weighting class(es) "
            + ", ".join(f"{names[i]!r} ({n_all[i]} sampled, 0 respondents)" for i in empty[:10])
            + f" of {cls_cols} have no respondents, so their weight cannot be carried by anyone. Collapse them "
            "with a similar class (e.g. a neighbouring age group in the same commune) and retry"
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        fac = np.where(resp_tot > 0, all_tot / resp_tot, 1.0)
    if max_factor is not None:
        big = np.flatnonzero(fac[:, 0] > max_factor)
        if big.size:
            raise WeightingError(
                f"adjust_nonresponse: adjustment factor above max_factor={max_factor} in class(es) "
                + ", ".join(
                    f"{names[i]!r} (factor {fac[i, 0]:.3g}, {n_resp[i]}/{n_all[i]} responded)" for i in big[:10]
                )
                + "; collapse them with similar classes"
            )
    W1 = np.where(resp[:, None], W0 * fac[cls], 0.0)
    table = pd.DataFrame(
        {
            "class": names,
            "n_sampled": n_all,
            "n_respondents": n_resp,
            "weighted_response_rate": np.where(
                all_tot[:, 0] > 0, resp_tot[:, 0] / np.where(all_tot[:, 0] > 0, all_tot[:, 0], 1), np.nan
            ),
            "factor": fac[:, 0],
        }
    )
    if is_frame:
        out = frame.copy()
        out[new_weight] = W1[:, 0]
        out.attrs["nonresponse_classes"] = table
        return out
    info = {
        "method": "adjust_nonresponse",
        "response_column": response_column,
        "classes": table,
        "iterations": 1,
        "converged": True,
        "max_abs_gap": {},
    }
    adjuster = None if _is_rep(design_or_frame) else _NonresponseAdjuster(cls, K, resp, w, W1[:, 0].copy())
    return _finish(design_or_frame, W1, adjuster, info)


def _check_new_column(frame: pd.DataFrame, name, what: str, argument: str) -> None:
    """Refuse an output column name that is not text or already names a column of ``frame``.

    The returned copy would silently replace that column (the analysis variable, the base
    weights...), so the caller picks a free name.
    """
    if not isinstance(name, str) or not name.strip():
        raise WeightingError(f"{what}: {argument} must be a non-empty column name (text), got {name!r}")
    clash = [c for c in frame.columns if str(c) == name or _nfc(str(c)).strip() == _nfc(name).strip()]
    if clash:
        raise WeightingError(
            f"{what}: {argument}={name!r} is already a column of the data ({clash[0]!r}); the adjusted weights "
            f"would overwrite it. Pass another {argument}= (e.g. {argument}={_free_name(frame, name.strip())!r}), or drop "
            "or rename the existing column first"
        )


def _free_name(frame: pd.DataFrame, name: str) -> str:
    """``name`` with the first suffix ``_2``, ``_3``... that is not a column of ``frame``."""
    taken = {str(c) for c in frame.columns}
    k = 2
    while f"{name}_{k}" in taken:
        k += 1
    return f"{name}_{k}"


class _NonresponseAdjuster:
    """Linearisation of t = Σ_c (A_c / B_c) Y_c with A_c = Σ_s d, B_c = Σ_r d, Y_c = Σ_r d y.

    z_i = a_i·(y_i - ȳ_c)·[i responded] + d_i·ȳ_c for every sampled i in class c, where
    a_i is the adjusted weight and ȳ_c the adjusted-weight mean of the respondents.
    """

    def __init__(self, cls, K, resp, d, a):
        self.cls, self.K, self.resp, self.d, self.a = cls, K, resp, d, a
        self.a_tot = _group_sum(cls, K, a)

    def __call__(self, Z):
        ybar = _group_sum(self.cls, self.K, Z) / np.where(self.a_tot > 0, self.a_tot, 1.0)[:, None]
        yb = ybar[self.cls]
        out = Z - np.where(self.resp[:, None], self.a[:, None] * yb, 0.0) + self.d[:, None] * yb
        return out


# ---------------------------------------------------------------------------
# trimming
# ---------------------------------------------------------------------------


def _trim_columns(W, cls, K, cap, median_by, max_iter=50):
    """Cap weights at cap × median and redistribute the excess within class, all columns at once."""
    n, m = W.shape
    pos = W > 0
    Wn = np.where(pos, W, np.nan)
    if median_by == "class":
        med = np.full((K, m), np.nan)
        order = np.argsort(cls, kind="stable")
        bounds_ = np.searchsorted(cls[order], np.arange(K + 1))
        for k in range(K):  # loop over classes (few), not respondents
            med[k] = np.nanmedian(Wn[order[bounds_[k] : bounds_[k + 1]]], axis=0)
        limit = cap * med[cls]
    else:
        limit = np.broadcast_to(cap * np.nanmedian(Wn, axis=0)[None, :], (n, m))
    Wt = W.copy()
    total = _group_sum(cls, K, W)
    capped = np.zeros_like(W, dtype=bool)
    for _ in range(max_iter):
        over = (Wt > limit * (1 + 1e-12)) & pos
        if not over.any():
            break
        capped |= over
        Wt = np.where(capped, np.minimum(Wt, limit), Wt)
        Wt = np.where(capped, limit, Wt)
        free = pos & ~capped
        cur = _group_sum(cls, K, Wt)
        free_tot = _group_sum(cls, K, np.where(free, Wt, 0.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            f = np.where(free_tot > 0, (total - (cur - free_tot)) / free_tot, np.nan)
        if np.isnan(f[total > 0]).any():
            raise WeightingError(
                "trim_weights: a class has every weight above the cap, so the trimmed weight cannot be "
                "redistributed; raise cap or use larger classes"
            )
        Wt = np.where(free, Wt * np.where(np.isnan(f), 1.0, f)[cls], Wt)
    return Wt, capped, limit


def trim_weights(design, cap: float = 3.5, by=None, median: str = "overall") -> SurveyDesign | ReplicateDesign:
    """Trim large weights at ``cap`` × the median weight, redistributing the excess within class.

    Weights above the cap are set to the cap; the weight removed is spread over the
    untrimmed weights of the same class in proportion to their size, so every class total
    (and the overall total) is unchanged. Repeats until no weight exceeds the cap.

    Parameters
    ----------
    design : SurveyDesign or ReplicateDesign
    cap : float, default 3.5
        Multiple of the median positive weight (must be > 1).
    by : str or list of str, optional
        Class column(s) within which the excess is redistributed (e.g. the design strata,
        or commune); None = the whole sample.
    median : {"overall", "class"}, default "overall"
        Median of the whole sample, or of each class.

    Returns
    -------
    design
        A new design; ``calibration_info`` reports the number of weights trimmed, the
        share of total weight moved (``share_moved``, a proportion in [0, 1]) and the cap.
        Variances treat the trimmed weights as fixed (no adjuster): trimming after
        calibration breaks the calibration totals slightly; calibrate again if they must
        hold exactly. Replicate columns are trimmed the same way.

    Raises
    ------
    WeightingError
        ``cap`` not above 1, unknown ``by`` columns, a class in which every weight
        exceeds the cap.

    References
    ----------
    Potter, F. (1990). A study of procedures to identify and trim extreme sampling weights.
    Kish, L. (1992). Weighting for unequal Pi. *J. Official Statistics* 8, 183-200.
    """
    _check_design(design, "trim_weights")
    if not (_is_number(cap) and cap > 1):
        raise WeightingError(f"trim_weights: cap must be a number above 1 (a multiple of the median), got {cap!r}")
    if median not in ("overall", "class"):
        raise WeightingError(f"trim_weights: median={median!r}; use 'overall' or 'class'")
    n = design._n
    if by is None:
        cls, K, names = np.zeros(n, dtype=np.int64), 1, ["(all)"]
    else:
        key = (
            tuple(by)
            if isinstance(by, (list, tuple)) and len(by) > 1
            else (by[0] if isinstance(by, (list, tuple)) else by)
        )
        cls, names = _encode(design, key, "trim_weights")
        K = len(names)
    W0 = _rep_matrix(design)
    W1, capped, limit = _trim_columns(W0, cls, K, float(cap), median)
    moved = float(np.sum(np.maximum(W0[:, 0] - W1[:, 0], 0.0) * capped[:, 0]))
    share = moved / float(W0[:, 0].sum())
    info = {
        "method": "trim_weights",
        "cap": float(cap),
        "cap_value": float(limit[0, 0]) if median == "overall" else None,
        "n_trimmed": int(capped[:, 0].sum()),
        "weight_moved": moved,
        "share_moved": share,
        "iterations": 1,
        "converged": True,
        "max_abs_gap": {},
    }
    if capped[:, 0].any():
        warnings.warn(
            f"trim_weights: {int(capped[:, 0].sum())} weights capped at {cap:g} × median; {share:.2%} of the total "
            "weight redistributed within class",
            WeightingWarning,
            stacklevel=2,
        )
    return _finish(design, W1, None, info)


# ---------------------------------------------------------------------------
# diagnostics
# ---------------------------------------------------------------------------


def kish_effective_n(w: np.ndarray) -> float:
    """Kish's effective sample size ``(sum w)^2 / sum w^2``, computed scale-free.

    Parameters
    ----------
    w : array-like, shape (n,)
        Weights (zeros count as absent respondents).

    Returns
    -------
    float
        The effective sample size; NaN when every weight is zero. The weights are divided by
        the largest absolute weight first, so tiny weights (``1e-170``, whose squares underflow
        to 0) or huge ones give the same value as weights of any other scale.

    References
    ----------
    Kish, L. (1965). *Survey Sampling*, §11.7.
    """
    w = np.asarray(w, dtype=float)
    m = float(np.max(np.abs(w))) if w.size else 0.0
    if not m > 0 or not math.isfinite(m):
        return float("nan")
    u = w / m
    return float(u.sum() ** 2 / float((u**2).sum()))


def weight_diagnostics(design, by=None) -> pd.DataFrame:
    """Weight diagnostics overall and per stratum (or per ``by`` group).

    Parameters
    ----------
    design : SurveyDesign or ReplicateDesign
    by : str or list of str, optional
        Grouping column(s); default the design's strata (if any).

    Returns
    -------
    pandas.DataFrame
        One row per group plus a final row "(overall)", with columns ``group``, ``n``
        (respondents with positive weight), ``sum_weights``, ``min``, ``max``, ``mean``,
        ``cv`` (standard deviation with divisor n, over the mean), ``deff_kish``
        (Kish's design effect due to unequal weighting, ``1 + cv² = n Σw² / (Σw)²``) and
        ``n_eff`` (Kish's effective sample size ``(Σw)² / Σw² = n / deff_kish``).

    Raises
    ------
    WeightingError
        Unknown ``by`` column, or no positive weight.

    References
    ----------
    Kish, L. (1965). *Survey Sampling*, §11.7. Kish, L. (1992). *J. Official Statistics* 8.
    """
    if not isinstance(design, (SurveyDesign, ReplicateDesign)):
        raise WeightingError(f"weight_diagnostics needs a design, got {type(design).__name__}")
    w = design._w
    pos = w > 0
    if not pos.any():
        raise WeightingError("weight_diagnostics: no respondent has a positive weight")
    n = design._n
    if by is None:
        by = getattr(design, "strata_column", None)
    if by is not None:
        key = (
            tuple(by)
            if isinstance(by, (list, tuple)) and len(by) > 1
            else (by[0] if isinstance(by, (list, tuple)) else by)
        )
        codes, labels = _encode(design, key, "weight_diagnostics")
        K = len(labels)
        names = [_label_text(x) for x in labels]
    else:
        codes, K, names = np.zeros(n, dtype=np.int64), 0, []
    rows = []

    top = float(w[pos].max())  # squares of weights scaled by the largest: no underflow for tiny weights

    def stats(mask):
        x = w[mask & pos]
        k = x.size
        s1 = x.sum()
        u1, u2 = (x / top).sum(), ((x / top) ** 2).sum()
        cv = math.sqrt(max(u2 / k - (u1 / k) ** 2, 0.0)) / (u1 / k)
        return dict(
            n=k,
            sum_weights=s1,
            min=x.min(),
            max=x.max(),
            mean=s1 / k,
            cv=cv,
            deff_kish=k * u2 / u1**2,
            n_eff=u1**2 / u2,
        )

    if K:
        # vectorised per group
        c = codes[pos]
        x = w[pos]
        kk = np.bincount(c, minlength=K)
        s1 = np.bincount(c, weights=x, minlength=K)
        u1 = np.bincount(c, weights=x / top, minlength=K)
        u2 = np.bincount(c, weights=(x / top) ** 2, minlength=K)
        mn = pd.Series(x).groupby(c).min().reindex(range(K)).to_numpy()
        mx = pd.Series(x).groupby(c).max().reindex(range(K)).to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = s1 / kk
            cv = np.sqrt(np.maximum(u2 / kk - (u1 / kk) ** 2, 0.0)) / (u1 / kk)
            frame = pd.DataFrame(
                {
                    "group": names,
                    "n": kk,
                    "sum_weights": s1,
                    "min": mn,
                    "max": mx,
                    "mean": mean,
                    "cv": cv,
                    "deff_kish": kk * u2 / u1**2,
                    "n_eff": u1**2 / u2,
                }
            )
        frame = frame[frame["n"] > 0]
        rows.append(frame)
    overall = pd.DataFrame([dict(group="(overall)", **stats(np.ones(n, dtype=bool)))])
    rows.append(overall)
    out = pd.concat(rows, ignore_index=True)
    out["n"] = out["n"].astype(int)
    return out

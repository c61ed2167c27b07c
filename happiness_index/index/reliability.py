"""Internal consistency of index components: design-weighted Cronbach's alpha and item analysis.

A component such as *life satisfaction* is measured by several questions (items). Whether
those items measure one thing is summarised by Cronbach's alpha and, item by item, by the
corrected item-total (item-rest) correlation and the alpha obtained when the item is left
out. Survey weights enter every variance and covariance, so the statistics describe the
population rather than the (unequally weighted) sample.

Definitions (weighted, normalised weights ``v_i = w_i / sum(w)``, complete cases)::

    mean_j      = sum_i v_i x_ij
    cov_jl      = sum_i v_i (x_ij - mean_j)(x_il - mean_l)
    X_i         = sum_j x_ij                              (the scale score)
    alpha       = k / (k - 1) * (1 - sum_j cov_jj / var(X))

With equal weights this is the classical alpha (Cronbach 1951): the divisor of the
variances (n or n - 1) cancels in the ratio.

References
----------
Cronbach, L. J. (1951). Coefficient alpha and the internal structure of tests.
*Psychometrika* 16, 297-334.

Kish, L. (1965). *Survey Sampling*. Wiley.

Lumley, T. (2010). *Complex Surveys: A Guide to Analysis Using R*. Wiley.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from ..errors import EstimationError, HappinessIndexWarning
from ..survey.variance import ROW_BLOCK, WeightedMoments

__all__ = [
    "cronbach_alpha",
    "item_analysis",
    "reliability_from_moments",
    "scale_reliability",
    "weighted_covariance",
]


def _prepare(items, weights):
    if isinstance(items, pd.DataFrame):
        if items.shape[1] == 0:
            raise EstimationError(
                "the item table has no columns; pass one column per item of the scale (at least 2 for alpha)"
            )
        names = [str(c) for c in items.columns]
        X = items.apply(pd.to_numeric, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        text = np.isnan(X) & items.notna().to_numpy()  # answers that are not numbers: never a silent NaN
        if text.any():
            j = int(np.flatnonzero(text.any(axis=0))[0])
            rows = np.flatnonzero(text[:, j])
            vals = sorted({str(v) for v in items.iloc[rows[:50], j]})[:5]
            raise EstimationError(
                f"item column {names[j]!r} holds values that are not numbers ({', '.join(map(repr, vals))}) "
                f"in {len(rows)} row(s), first at row label {items.index[rows[0]]}; recode the answers "
                "to their numeric codes (e.g. 1-5) or mark them missing"
            )
    else:
        X = np.asarray(items, dtype="float64")
        if X.ndim != 2:
            raise EstimationError(f"items must be a 2-D table (respondents × items), got shape {X.shape}")
        names = [f"item{j + 1}" for j in range(X.shape[1])]
    n = X.shape[0]
    if weights is None:
        w = np.ones(n)
    else:
        w = np.asarray(weights, dtype="float64").reshape(-1)
        if w.shape != (n,):
            raise EstimationError(f"weights have {w.shape[0]} values but the item table has {n} rows")
        bad = ~np.isfinite(w) | (w < 0)
        if bad.any():
            raise EstimationError(
                f"weights must be finite and non-negative; rows {np.flatnonzero(bad)[:5].tolist()} are not"
            )
    if np.isinf(X).any():
        cols = [names[j] for j in range(X.shape[1]) if np.isinf(X[:, j]).any()]
        raise EstimationError(f"infinite item values in {cols}; recode them as missing or fix them")
    keep = np.isfinite(X).all(axis=1) & (w > 0)
    # incomplete rows get weight 0 (complete cases) instead of a copy of the n x k table
    return X, (w if keep.all() else np.where(keep, w, 0.0)), names


def _moments(X: np.ndarray, w: np.ndarray) -> WeightedMoments:
    """Weighted moments of the rows with a positive weight, a block of rows at a time."""
    mom = WeightedMoments(X.shape[1])
    for start in range(0, X.shape[0], ROW_BLOCK):
        Xb, wb = X[start : start + ROW_BLOCK], w[start : start + ROW_BLOCK]
        out = wb == 0
        mom.add(np.where(out[:, None], 0.0, Xb) if out.any() else Xb, wb)
    return mom


def weighted_covariance(X: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted covariance matrix ``sum_i v_i (x_i - m)(x_i - m)'`` with ``v = w / sum(w)``.

    Parameters
    ----------
    X : ndarray, shape (n, k)
        Complete data (no NaN in rows of positive weight).
    w : ndarray, shape (n,)
        Non-negative weights with a positive sum.

    Returns
    -------
    ndarray, shape (k, k)

    Notes
    -----
    Accumulated in blocks of rows (:class:`~happiness_index.survey.variance.WeightedMoments`):
    the memory is that of one block, whatever ``n``.
    """
    return _moments(np.asarray(X, dtype=float), np.asarray(w, dtype=float)).covariance()


def cronbach_alpha(items, weights=None) -> float:
    """Design-weighted Cronbach's alpha of a set of items.

    Parameters
    ----------
    items : DataFrame or array_like, shape (n, k)
        Item scores, one column per item (e.g. Likert codes 1-5). Rows with a missing
        value in any item are left out (complete cases).
    weights : array_like, shape (n,), optional
        Survey weights; default equal weights.

    Returns
    -------
    float
        Alpha; NaN when it is undefined: fewer than 2 items, fewer than 2 complete
        respondents, or a scale score without variance (a
        :class:`~happiness_index.errors.HappinessIndexWarning` says which).

    Raises
    ------
    EstimationError
        Weights of the wrong length, negative or non-finite; infinite item values; an item
        column holding text that is not a number (the message names the column and values).

    Notes
    -----
    ``alpha = k/(k-1) * (1 - sum_j var_j / var(sum_j x_j))`` with weighted variances
    (see the module docstring). Equal weights give the textbook alpha.

    References
    ----------
    Cronbach, L. J. (1951). *Psychometrika* 16, 297-334.
    """
    X, w, _ = _prepare(items, weights)
    mom = _moments(X, w)
    alpha = _alpha_from_cov(mom.covariance()) if X.shape[1] >= 2 and mom.n >= 2 else float("nan")
    if math.isnan(alpha):
        _warn_alpha_undefined(X.shape[1], int(mom.n), X.shape[0])
    return alpha


def _warn_alpha_undefined(k: int, n: int, rows: int) -> None:
    """Say why alpha is NaN: too few items, too few complete respondents, no variance of the score."""
    if k < 2:
        why = f"it needs at least 2 items; got {k}"
    elif n < 2:
        why = (
            f"it needs at least 2 respondents who answered every item with a positive weight; {n} of {rows} "
            "rows are complete (rows with a missing item are left out)"
        )
    else:
        why = (
            f"the scale score (sum of the {k} items) has no variance over the {n} complete respondents "
            "(e.g. every item constant)"
        )
    warnings.warn(f"Cronbach's alpha is undefined (NaN): {why}", HappinessIndexWarning, stacklevel=3)


def _alpha_from_cov(C: np.ndarray) -> float:
    """Alpha from the weighted covariance matrix of the items (NaN without total variance)."""
    k = C.shape[0]
    total = C.sum()
    if k < 2 or not total > 0:
        return float("nan")
    return float(k / (k - 1) * (1.0 - np.trace(C) / total))


def item_analysis(items, weights=None) -> pd.DataFrame:
    """Item statistics of one scale: weighted mean, SD, item-rest correlation, alpha if deleted.

    Parameters
    ----------
    items : DataFrame or array_like, shape (n, k)
        Item scores; complete cases are used (as in :func:`cronbach_alpha`).
    weights : array_like, shape (n,), optional
        Survey weights.

    Returns
    -------
    DataFrame
        One row per item with columns ``item``, ``n`` (complete respondents), ``mean``,
        ``sd`` (weighted, divisor sum of weights), ``item_rest_corr`` (weighted
        correlation of the item with the sum of the other items; NaN for a single
        item) and ``alpha_if_deleted`` (NaN when fewer than 3 items).

    Raises
    ------
    EstimationError
        As :func:`cronbach_alpha`.

    References
    ----------
    Cronbach, L. J. (1951). Coefficient alpha and the internal structure of tests.
    *Psychometrika* 16, 297-334.
    """
    X, w, names = _prepare(items, weights)
    return reliability_from_moments(_moments(X, w), names)[1]


def scale_reliability(items, weights=None) -> tuple[float, pd.DataFrame]:
    """Cronbach's alpha and the item analysis of one scale from a single pass over the data.

    Parameters
    ----------
    items : DataFrame or array_like, shape (n, k)
        Item scores; complete cases are used (as in :func:`cronbach_alpha`).
    weights : array_like, shape (n,), optional
        Survey weights.

    Returns
    -------
    (float, DataFrame)
        Exactly ``cronbach_alpha(items, weights)`` and ``item_analysis(items, weights)``;
        the weighted covariance matrix is computed once (the cost at 1M respondents).

    Raises
    ------
    EstimationError
        As :func:`cronbach_alpha`.

    References
    ----------
    Cronbach, L. J. (1951). *Psychometrika* 16, 297-334.
    """
    X, w, names = _prepare(items, weights)
    mom = _moments(X, w)
    alpha, table = reliability_from_moments(mom, names)
    if math.isnan(alpha):
        _warn_alpha_undefined(X.shape[1], int(mom.n), X.shape[0])
    return alpha, table


def reliability_from_moments(moments: WeightedMoments, names: list) -> tuple[float, pd.DataFrame]:
    """Cronbach's alpha and the item analysis from the weighted moments of the complete cases.

    Parameters
    ----------
    moments : WeightedMoments
        Accumulated over the respondents who answered every item of the scale (the others
        added with weight 0), e.g. block by block from the data.
    names : list of str, length k
        The items, in the order of the moments' variables.

    Returns
    -------
    (float, DataFrame)
        As :func:`scale_reliability`.

    References
    ----------
    Cronbach, L. J. (1951). *Psychometrika* 16, 297-334.
    """
    k = len(names)
    C = moments.covariance() if moments.n >= 1 else np.full((k, k), np.nan)
    alpha = _alpha_from_cov(C) if moments.n >= 2 else float("nan")
    means = moments.mean if moments.n >= 1 else np.full(k, np.nan)
    return alpha, _item_table(moments.n, means, names, C)


def _item_table(n: int, means: np.ndarray, names: list, C: np.ndarray) -> pd.DataFrame:
    """Item rows (mean, SD, item-rest correlation, alpha if deleted) from the covariance ``C``."""
    k = len(names)
    rows = []
    for j in range(k):
        others = [i for i in range(k) if i != j]
        if others and n >= 2:
            var_rest = C[np.ix_(others, others)].sum()
            cov_jr = C[j, others].sum()
            denom = math.sqrt(C[j, j] * var_rest) if C[j, j] > 0 and var_rest > 0 else float("nan")
            r = cov_jr / denom if denom == denom and denom > 0 else float("nan")
        else:
            r = float("nan")
        if len(others) >= 2 and n >= 2:
            Cs = C[np.ix_(others, others)]
            tot = Cs.sum()
            a = len(others) / (len(others) - 1) * (1 - np.trace(Cs) / tot) if tot > 0 else float("nan")
        else:
            a = float("nan")
        rows.append(
            {
                "item": names[j],
                "n": int(n),
                "mean": float(means[j]),
                "sd": float(math.sqrt(C[j, j])) if C[j, j] >= 0 else float("nan"),
                "item_rest_corr": float(r),
                "alpha_if_deleted": float(a),
            }
        )
    return pd.DataFrame(rows, columns=["item", "n", "mean", "sd", "item_rest_corr", "alpha_if_deleted"])

"""Adjusted p-values for many comparisons at once: Holm and Benjamini–Hochberg.

When the change of every commune is tested, some p-values fall below 0.05 by chance alone.
:func:`adjust_pvalues` returns p-values adjusted for the number of tests:

* ``"holm"``: Holm's step-down method; controls the family-wise error rate (the chance of
  any false finding) under any dependence between the tests;
* ``"bh"``: Benjamini–Hochberg step-up method; controls the false discovery rate (the
  expected share of false findings among the findings) for independent or positively
  dependent tests.

Both are vectorised (one sort, one cumulative maximum or minimum) and agree with R's
``p.adjust(p, "holm")`` / ``p.adjust(p, "BH")`` and statsmodels' ``multipletests``.
"""

from __future__ import annotations

import numpy as np

from ..errors import EstimationError

__all__ = ["METHODS", "adjust_pvalues"]

METHODS = ("holm", "bh")


def adjust_pvalues(p, method: str = "holm") -> np.ndarray:
    """Adjusted p-values (same order as ``p``).

    Parameters
    ----------
    p : array_like, shape (m,)
        Unadjusted p-values in [0, 1]. NaN marks a test that was not made (a commune without
        a change estimate): it stays NaN and does not count in ``m``.
    method : {"holm", "bh"}, default "holm"

    Returns
    -------
    numpy.ndarray, shape (m,)
        Holm: ``p~_(i) = max_{j<=i} min(1, (m - j + 1) p_(j))``;
        BH: ``p~_(i) = min_{j>=i} min(1, m p_(j) / j)``, for the sorted p-values ``p_(1) <= ... <= p_(m)``.

    Raises
    ------
    EstimationError
        A p-value outside [0, 1], or an unknown method.

    References
    ----------
    Holm, S. (1979). A simple sequentially rejective multiple test procedure. *Scandinavian
    Journal of Statistics* 6, 65–70.
    Benjamini, Y. and Hochberg, Y. (1995). Controlling the false discovery rate. *Journal of
    the Royal Statistical Society B* 57, 289–300.
    """
    if method not in METHODS:
        raise EstimationError(f"method must be one of {METHODS}, got {method!r}")
    p = np.asarray(p, dtype=float).reshape(-1)
    ok = ~np.isnan(p)
    bad = ok & ((p < 0) | (p > 1))
    if bad.any():
        raise EstimationError(
            f"p-values must lie in [0, 1]; positions {np.flatnonzero(bad).tolist()} hold {p[bad].tolist()}"
        )
    out = np.full(p.shape, np.nan)
    q = p[ok]
    m = q.size
    if m == 0:
        return out
    order = np.argsort(q, kind="stable")
    s = q[order]
    rank = np.arange(1, m + 1)
    if method == "holm":
        adj = np.maximum.accumulate(np.minimum(1.0, (m - rank + 1) * s))
    else:
        adj = np.minimum.accumulate((m * s / rank)[::-1])[::-1]
        adj = np.minimum(adj, 1.0)
    res = np.empty(m)
    res[order] = adj
    out[ok] = res
    return out

"""Planning commune precision: villages and households needed for a target interval half-width.

Last year's survey gives, per commune, the design standard error ``se`` of the index at
``n`` respondents in villages of ``m`` households. With the same design shape the design
variance scales as ``se^2 n / n'``; a new cluster size ``m'`` changes the design effect
``1 + (m - 1) rho`` through the intra-village correlation ``rho``. The direct estimate's
interval is ``t(k - 1) sqrt(V)`` with ``k`` villages (the commune is a stratum with ``k``
PSUs); with the Fay–Herriot model the MSE is about ``gamma V + g2 + 2 g3`` with
``gamma = sigma2_u / (sigma2_u + V)``, so a commune needs a direct variance ``V`` with
``z sqrt(sigma2_u V / (sigma2_u + V) + extra) <= h``.

References
----------
Kish, L. (1965). Survey Sampling, ch. 5 (design effects of cluster samples).
Rao & Molina (2015), section 6.1 (MSE of the EBLUP); Molefe, Shangodoyin & Clark (2015),
An approximation to the optimal subsample allocation for small areas.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import HappinessIndexWarning, SamplingError

__all__ = ["commune_precision_plan", "model_plan_inputs"]


def model_plan_inputs(fit) -> dict:
    """The area-model inputs of :func:`commune_precision_plan` from a Fay–Herriot fit.

    Parameters
    ----------
    fit : FayHerriotFit
        A fit of :func:`~happiness_index.survey.small_area.fay_herriot` (model scale).

    Returns
    -------
    dict
        ``{"sigma2_u": float, "extra_coef": float}``: the random-effect variance and the mean over
        the in-sample areas of ``(g2 + 2 g3) / (1 - gamma)^2`` (the MSE terms beyond ``g1``,
        relative to the shrinkage), which the plan scales with each design variance.

    References
    ----------
    Prasad, N. G. N. and Rao, J. N. K. (1990). The estimation of the mean squared error of
    small-area estimators. *JASA* 85, 163–171.
    """
    f = fit.to_frame()
    f = f[f["in_sample"]]
    b2 = (1 - f["gamma"]) ** 2
    coef = float(((f["g2"] + 2 * f["g3"]) / b2).mean()) if (b2 > 0).all() else 0.0
    return {"sigma2_u": float(fit.sigma2_u), "extra_coef": coef}


def _as_array(x, name: str, p: int | None = None) -> np.ndarray:
    a = np.atleast_1d(np.asarray(x, dtype=float))
    if p is not None and a.size == 1:
        a = np.full(p, a[0])
    if not (np.isfinite(a).all() and (a > 0).all()):
        raise SamplingError(f"commune_precision_plan: {name} must be finite and > 0 (got {a.tolist()[:5]}...)")
    return a


def commune_precision_plan(
    se,
    n,
    target_halfwidth: float = 10.0,
    *,
    cluster_size: int = 40,
    previous_cluster_size: float | None = None,
    rho: float | None = None,
    sigma2_u: float | None = None,
    extra_coef: float = 0.0,
    level: float = 0.95,
    min_villages: int = 2,
    max_villages: int = 1000,
    units=None,
) -> pd.DataFrame:
    """Villages and households per commune for a target interval half-width of the index.

    Parameters
    ----------
    se : array-like or Series, shape (p,)
        Last year's design SE of the commune index (points), e.g. ``result.by_group``'s ``se``.
    n : array-like, shape (p,) or scalar
        Respondents behind each SE.
    target_halfwidth : float, default 10
        Wanted half-width (points) of the 95% interval (the publication rule's maximum).
    cluster_size : int, default 40
        Households interviewed per selected village in the new design.
    previous_cluster_size : float, optional
        Households per village last year, possibly an average such as 12.5 (default:
        ``cluster_size``).
    rho : float, optional
        Intra-village correlation of the index scores; needed only when the cluster size
        changes (design effect ``1 + (m - 1) rho``).
    sigma2_u : float, optional
        Fay–Herriot model variance from last year's fit (``small_area_index(...).fit.sigma2_u``):
        gives the columns for estimation with the area model.
    extra_coef : float, default 0
        ``c`` in the model MSE ``gamma V + c (1 - gamma)^2``: the terms ``g2 + 2 g3`` for the
        estimation of beta and sigma2_u, divided by ``(1 - gamma)^2``; e.g. the mean of
        ``(g2 + 2 g3) / (1 - gamma)^2`` over last year's communes (:func:`model_plan_inputs`).
    level : float, default 0.95
    min_villages : int, default 2
        Fewest villages per commune considered (a design variance needs 2; a model-based
        plan should keep more, see Notes).
    max_villages : int, default 1000
        Search limit; a commune that cannot reach the target within it gets NaN.
    units : sequence, optional
        Commune labels (default: the Series index of ``se``, or 1..p).

    Returns
    -------
    DataFrame
        Per commune: ``unit``, ``se_previous``, ``n_previous``, ``villages_direct``,
        ``households_direct`` (direct estimate, t interval on ``k - 1`` df),
        ``halfwidth_direct``, and with ``sigma2_u``: ``villages_model``, ``households_model``,
        ``halfwidth_model`` (the better of the model's Normal interval and the direct one). Households are completed
        interviews: divide by the response rate for contacts.

    Raises
    ------
    SamplingError
        Non-positive inputs, a cluster size that is not a whole number >= 1, ``rho`` outside
        [0, 1), a negative ``sigma2_u`` or ``extra_coef``, lengths that differ, a cluster
        size change without ``rho``, a bad level.

    Warns
    -----
    HappinessIndexWarning
        Communes that cannot reach the target within ``max_villages`` (their columns NaN).

    Notes
    -----
    At least 2 villages per commune are always required (a design variance needs 2 PSUs);
    the model plan assumes next year's model fits as well as last year's (same
    ``sigma2_u``, same covariates, same ``c``), and publishes whichever of the direct and
    model estimates reaches the target first (``villages_model <= villages_direct``). The
    model MSE is an average over communes: a commune far from the regression line is
    covered less often than the nominal level (``methodology/small_area.md``), so a
    model-based plan should keep a minimum number of villages per commune.
    """
    if not (_is_real(level) and 0 < level < 1):
        raise SamplingError(f"commune_precision_plan: level must be in (0, 1), got {level!r}")
    labels = list(se.index) if units is None and isinstance(se, pd.Series) else units
    se_a = _as_array(se, "se")
    p = se_a.size
    n_a = _as_array(n, "n", p)
    if n_a.size != p:
        raise SamplingError(f"commune_precision_plan: n has {n_a.size} values but se has {p}; give one per commune")
    labels = list(range(1, p + 1)) if labels is None else list(labels)
    if len(labels) != p:
        raise SamplingError(f"commune_precision_plan: units has {len(labels)} labels but se has {p} values")
    cluster_size = _whole(cluster_size, "cluster_size", 1)
    prev_m = cluster_size if previous_cluster_size is None else _at_least_one(previous_cluster_size)
    max_villages = _whole(max_villages, "max_villages", 2)
    if rho is not None and not (_is_real(rho) and 0 <= rho < 1):
        raise SamplingError(f"commune_precision_plan: rho is an intra-village correlation, 0 <= rho < 1; got {rho!r}")
    factor = 1.0
    if prev_m != cluster_size:
        if rho is None:
            raise SamplingError(
                "commune_precision_plan: changing the cluster size needs rho (intra-village correlation, 0 <= rho < 1)"
            )
        factor = (1 + (cluster_size - 1) * rho) / (1 + (prev_m - 1) * rho)
    for name, v in (("sigma2_u", sigma2_u), ("extra_coef", extra_coef)):
        if v is not None and not (_is_real(v) and math.isfinite(v) and v >= 0):
            raise SamplingError(f"commune_precision_plan: {name} must be a finite number >= 0, got {v!r}")
    h = float(_as_array(target_halfwidth, "target_halfwidth")[0])
    if not (isinstance(min_villages, (int, np.integer)) and not isinstance(min_villages, bool)):
        min_villages = -1
    if not 2 <= min_villages <= max_villages:
        raise SamplingError(
            f"commune_precision_plan: min_villages must be an integer in [2, max_villages], got {min_villages!r}"
        )
    k = np.arange(min_villages, max_villages + 1, dtype=float)  # candidate villages
    V = (se_a**2 * n_a * factor)[:, None] / (k[None, :] * cluster_size)  # (p, K)
    hw_direct = stats.t.ppf(0.5 + level / 2, k - 1)[None, :] * np.sqrt(V)
    out = pd.DataFrame({"unit": labels, "se_previous": se_a, "n_previous": n_a})
    out["villages_direct"], out["halfwidth_direct"] = _first(k, hw_direct, h)
    out["households_direct"] = out["villages_direct"] * cluster_size
    if sigma2_u is not None:
        z = stats.norm.ppf(0.5 + level / 2)
        s2 = float(sigma2_u)
        B = V / (s2 + V)
        mse = s2 * B + float(extra_coef) * B**2
        hw_model = np.minimum(z * np.sqrt(mse), hw_direct)
        out["villages_model"], out["halfwidth_model"] = _first(k, hw_model, h)
        out["households_model"] = out["villages_model"] * cluster_size
    _warn_unreachable(out, h, max_villages)
    return out


def _is_real(v) -> bool:
    """A real number (not a bool, not text)."""
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def _whole(v, name: str, minimum: int) -> int:
    """An integer count >= ``minimum`` (a float equal to an integer is accepted), else SamplingError."""
    ok = _is_real(v) and math.isfinite(float(v)) and float(v) == int(v) and int(v) >= minimum
    if not ok:
        raise SamplingError(f"commune_precision_plan: {name} must be a whole number >= {minimum}, got {v!r}")
    return int(v)


def _at_least_one(v) -> float:
    """Last year's households per village: an average may be fractional (12.5), but not below 1."""
    if not (_is_real(v) and math.isfinite(float(v)) and float(v) >= 1):
        raise SamplingError(f"commune_precision_plan: previous_cluster_size must be a number >= 1, got {v!r}")
    return float(v)


def _warn_unreachable(out: pd.DataFrame, h: float, max_villages: int) -> None:
    """Name the communes whose target cannot be reached within ``max_villages`` (their columns are NaN)."""
    cols = [c for c in ("villages_direct", "villages_model") if c in out.columns]
    miss = out[cols].isna().all(axis=1).to_numpy()
    if miss.any():
        names = ", ".join(str(u) for u in out["unit"][miss].tolist()[:10])
        warnings.warn(
            f"commune_precision_plan: {int(miss.sum())} commune(s) ({names}) cannot reach the half-width {h:g} "
            f"with up to {max_villages} villages (their villages/households/halfwidth are NaN); check their "
            "previous SE, raise max_villages or the target half-width",
            HappinessIndexWarning,
            stacklevel=3,
        )


def _first(k: np.ndarray, hw: np.ndarray, h: float):
    ok = hw <= h
    has = ok.any(axis=1)
    j = ok.argmax(axis=1)
    villages = np.where(has, k[j], np.nan)
    width = np.where(has, hw[np.arange(len(j)), j], np.nan)
    return villages, width

"""Average marginal effects and average predictions of survey models, with design-based SEs.

For a fitted model (:class:`~happiness_index.survey.regression.SvyGLM` or
:class:`~happiness_index.survey.ordinal.SvyOLR`) with parameters ``theta`` and per-row mean
outputs ``m_i(theta)`` (the fitted probability, or one probability per answer level), an
average effect is the weighted mean over the respondents of the fit,

    AME = sum_i w_i g_i(theta) / sum_i w_i,

where ``g_i`` is a discrete change (a category against the reference level, or a 0/1
indicator from 0 to 1) or a derivative (a continuous variable, by central differences of
the model matrix, so interactions and transformations are followed). Its variance goes
through the same variance engine as the model:

* Taylor designs: the influence value of the AME is the chain
  ``z_i = w_i (g_i - AME) / sum w + IF_theta,i J'`` with ``J = dAME/dtheta`` and
  ``IF_theta`` the model's influence values; ``design.influence_vcov`` does the rest
  (strata, PSUs, fpc, calibration, domain);
* replicate designs: the AME is recomputed with every replicate's refitted parameters and
  weights and goes through ``replicate_vcov``.

These are Stata's ``margins, dydx(*)`` (``vce(linearized)``) and R ``marginaleffects`` with
survey weights, stated as associations in the fitted model, not causal effects.

References
----------
Bartus, T. (2005). Estimation of marginal effects using margeff. *Stata Journal* 5, 309–329.
Graubard, B. I. & Korn, E. L. (1999). Predictive margins with survey data. *Biometrics* 55,
652–659.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import ModelError
from .modelframe import counterfactual_matrix

__all__ = ["average_marginal_effects", "average_predictions", "effect_contrasts"]


def _fit_data(fit) -> pd.DataFrame:
    src = fit.frame.source if fit.frame.source is not None else fit.model_design.design.data
    return src.loc[fit.frame.rows]


def _set(data: pd.DataFrame, var: str, value) -> pd.DataFrame:
    out = data.copy()
    if isinstance(data[var].dtype, pd.CategoricalDtype):
        out[var] = pd.Categorical(
            [value] * len(out), categories=data[var].cat.categories, ordered=data[var].cat.ordered
        )
    else:
        out[var] = value
    return out


def _is_categorical(fit, var: str, s: pd.Series) -> bool:
    rhs = fit.frame.formula.split("~", 1)[1]
    wrapped = f"C({var}" in rhs.replace(" ", "")
    return wrapped or not (pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype))


def effect_contrasts(fit, variable: str) -> list[dict]:
    """The comparisons behind the AMEs of one variable.

    Returns a list of dicts with ``term`` (label), ``level`` (compared level or None),
    ``contrast`` ("derivative" | "<level> vs <reference>" | "1 vs 0"), ``Xa``, ``Xb``
    (model matrices on the fit rows) and ``scale`` (``1/(2h)`` for derivatives).
    """
    if variable not in fit.frame.variables:
        raise ModelError(f"{variable!r} is not a variable of the model; its variables are {fit.frame.variables}")
    data = _fit_data(fit)
    s = data[variable]

    def mm(values):
        return counterfactual_matrix(fit.frame, data, variable, values)

    if _is_categorical(fit, variable, s):
        if isinstance(s.dtype, pd.CategoricalDtype):
            levels = [c for c in s.cat.categories if (s == c).any()]
        else:
            levels = sorted(pd.unique(s))
        ref = levels[0]
        Xb = mm(ref)
        return [
            {
                "term": f"{variable}[{lv}]",
                "level": lv,
                "contrast": f"{lv} vs {ref}",
                "Xa": mm(lv),
                "Xb": Xb,
                "scale": 1.0,
            }
            for lv in levels[1:]
        ]
    x = s.to_numpy(dtype=float)
    if np.isin(x, (0.0, 1.0)).all():
        return [{"term": variable, "level": 1, "contrast": "1 vs 0", "Xa": mm(1.0), "Xb": mm(0.0), "scale": 1.0}]
    h = 1e-4 * (float(np.std(x)) or 1.0)
    return [
        {
            "term": variable,
            "level": None,
            "contrast": "derivative",
            "Xa": mm(x + h),
            "Xb": mm(x - h),
            "scale": 1.0 / (2 * h),
        }
    ]


def _values(fit, Theta, Xa, Xb, scale):
    G = fit.response_means(Theta, Xa)
    if Xb is not None:
        G = G - fit.response_means(Theta, Xb)
    return G * scale  # n x k x m


def _average_with_vcov(fit, Xa, Xb=None, scale: float = 1.0):
    """(estimate (m,), vcov (m, m)) of the weighted mean of g_i over the fit rows."""
    md = fit.model_design
    w = md.w
    sw = w.sum()
    theta = fit.theta
    G0 = _values(fit, theta, Xa, Xb, scale)[:, 0, :]
    est = w @ G0 / sw
    if md.kind == "taylor":
        jac = fit.response_jacobian(Xa)
        if Xb is not None:
            jac = jac - fit.response_jacobian(Xb)
        J = np.einsum("i,imq->mq", w, jac) * scale / sw  # m x q, analytic
        z = w[:, None] * (G0 - est) / sw + fit.influence @ J.T
        return est, md.influence_vcov(z)
    W = md.replicate_weights
    Gr = _values(fit, fit.replicate_params, Xa, Xb, scale)  # n x R x m
    reps = np.einsum("ir,irm->rm", W, Gr) / W.sum(axis=0)[:, None]
    return est, md.replicate_vcov(reps, est)


def _rows(fit, est, V, level, with_p: bool) -> list[dict]:
    df = float(fit.design_df)
    se = np.sqrt(np.clip(np.diag(V), 0, None))
    q = stats.t.ppf(0.5 + level / 2, df) if df > 0 else math.nan
    out = []
    for j, lab in enumerate(fit.outcome_labels):
        t = est[j] / se[j] if se[j] > 0 else math.nan
        p = float(2 * stats.t.sf(abs(t), df)) if (with_p and df > 0 and math.isfinite(t)) else math.nan
        out.append(
            {
                "outcome": lab,
                "estimate": float(est[j]),
                "se": float(se[j]),
                "ci_low": float(est[j] - q * se[j]),
                "ci_high": float(est[j] + q * se[j]),
                "p": p,
                "df": df,
            }
        )
    return out


def average_marginal_effects(fit, variables=None, level: float = 0.95) -> pd.DataFrame:
    """Average marginal effects of model variables on the mean outcome(s).

    Parameters
    ----------
    fit : SvyGLM or SvyOLR
    variables : str or list of str, optional
        Data columns of the right-hand side; default all of them.
    level : float, default 0.95

    Returns
    -------
    pandas.DataFrame
        Columns ``variable, term, contrast, outcome, estimate, se, ci_low, ci_high, p, df``:
        one row per variable (per non-reference level for categorical variables) and per
        outcome (the response for svyglm; each answer level for svyolr). Effects are on the
        response scale (probabilities for logit models: multiply by 100 for percentage
        points). Intervals and p-values use t on the design df of the fit.

    Raises
    ------
    ModelError
        A variable that is not in the model.

    Notes
    -----
    Categorical variables: the average of ``m_i(level) - m_i(reference)`` with every
    respondent set to each level in turn (Graubard & Korn's predictive margins); 0/1
    variables: from 0 to 1; continuous variables: the average derivative. Delta-method SEs
    through the model's influence values (Taylor) or its replicate refits.
    """
    if variables is None:
        variables = list(fit.frame.variables)
    variables = [variables] if isinstance(variables, str) else list(variables)
    rows = []
    for v in variables:
        for c in effect_contrasts(fit, v):
            est, V = _average_with_vcov(fit, c["Xa"], c["Xb"], c["scale"])
            for r in _rows(fit, est, V, level, True):
                rows.append({"variable": v, "term": c["term"], "contrast": c["contrast"], **r})
    return pd.DataFrame(rows)


def average_predictions(fit, at: dict | None = None, level: float = 0.95) -> pd.DataFrame:
    """Average predicted mean outcome(s) (per answer level for svyolr), optionally at set values.

    Parameters
    ----------
    fit : SvyGLM or SvyOLR
    at : dict, optional
        ``{variable: value}`` set for every respondent before predicting (a predictive
        margin); default the observed values.
    level : float, default 0.95

    Returns
    -------
    pandas.DataFrame
        Columns ``outcome, estimate, se, ci_low, ci_high, p (NaN), df``.
    """
    data = _fit_data(fit)
    for var, value in (at or {}).items():
        if var not in fit.frame.variables:
            raise ModelError(f"{var!r} is not a variable of the model; its variables are {fit.frame.variables}")
        data = _set(data, var, value)
    X = fit.frame.model_matrix(data) if at else fit.frame.X
    est, V = _average_with_vcov(fit, X)
    return pd.DataFrame(_rows(fit, est, V, level, False))

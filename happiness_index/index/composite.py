"""The composite happiness index with design-based confidence intervals.

:func:`compute_index` turns survey microdata and an :class:`~happiness_index.spec.IndexSpec`
into the published index, for the city and for every commune/ward, with standard errors
and confidence intervals that respect the sample design.

The computation
---------------
1. **Items -> indicators.** Every item becomes a 0/1 "satisfied" indicator (the spec's
   cut-off), missing when the answer is missing (:meth:`IndexSpec.satisfied_indicators`).
2. **Indicators -> basic columns.** For each item ``j``: ``y_j r_j`` and ``r_j`` (``r_j`` = 1
   when the item was answered), so that each item share is a ratio of two weighted totals
   over the respondents who answered it (available-case, as R's ``svymean(..., na.rm=TRUE)``
   item by item). Row-level components (``all_satisfied``, ``at_least_k``) add their row
   indicator, complete over the component's items. The Alkire-Foster preset adds the
   respondent's censored insufficiency, decided in exact integer arithmetic.
3. **Totals.** One call of the design's variance engine gives the weighted totals of all
   basic columns in every commune (a domain of the full design), with their joint
   covariance (Taylor linearisation) or their replicate values (replicate designs). The
   city totals are the sums over communes.
4. **Totals -> shares -> components -> index.** Shares are ratios of totals; components are a
   linear map ``A`` of the shares (``mean_of_item_shares`` averages item shares; a
   row-level component is its own share); the index is the spec's formula (or preset) of
   the components. The delta method composes the Jacobians
   ``d index / d totals = g' A J`` and gives ``Var = G V G'`` with the full covariance
   ``V`` of the totals: components come from the same respondents, so their covariances
   enter, and the city shares respondents with each commune, so the commune-minus-city
   difference has the right variance. With a replicate design the same function of the
   totals is evaluated on every replicate (``replicate_variance="rerun"``, default) or the
   replicate covariance of the shares is used in the delta method (``"delta"``, what R's
   ``svycontrast`` does on replicate designs).

References
----------
Alkire, S. and Foster, J. (2011). Counting and multidimensional poverty measurement.
*Journal of Public Economics* 95, 476-487.

Cochran, W. G. (1977). *Sampling Techniques*, 3rd ed. Wiley.

Kish, L. (1965). *Survey Sampling*. Wiley.

Lumley, T. (2010). *Complex Surveys: A Guide to Analysis Using R*. Wiley.

Särndal, C.-E., Swensson, B. and Wretman, J. (1992). *Model Assisted Survey Sampling*.
Springer.

Ura, K., Alkire, S., Zangmo, T. and Wangdi, K. (2012). *A Short Guide to Gross National
Happiness Index*. Thimphu: The Centre for Bhutan Studies.
"""

from __future__ import annotations

import hashlib
import math
import unicodedata
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
import pandas as pd

from ..errors import (
    DesignError,
    EstimationError,
    HappinessIndexWarning,
    SchemaError,
    SpecError,
    describe_bytes,
    describe_rows,
)
from ..questionnaire.formula import Formula
from ..questionnaire.spec import IndexSpec
from ..survey.design import ReplicateDesign, SurveyDesign
from ..survey.estimators import Estimate, EstimateTable, make_estimate, t_quantile
from ..survey.replicates import memory_limit
from ..survey.variance import (
    ROW_BLOCK,
    Statistic,
    WeightedMoments,
    nfc_keys,
    srs_variance_of_moments,
    warn_dropped_domains,
)
from ..survey.weighting import kish_effective_n
from .reliability import reliability_from_moments

__all__ = [
    "compute_index",
    "IndexResult",
    "DomainIndexTable",
    "index_from_components",
    "nef_sensitivity",
    "af_gnh_index",
    "af_happy",
]

#: Presets whose index lies in [0, 100] (percent) or [0, 1]: intervals on the logit scale.
BOUNDED_PRESETS = ("mean_of_shares", "mean_score", "af_gnh", "geometric")
CI_SCALES = ("auto", "logit", "log", "identity")
_MAX_DEN = 10**6  # largest denominator when AF weights/threshold are turned into fractions
#: Largest memory the joint covariance of the domain estimates may take (bytes). It grows with
#: the square of the number of domains (3,400 domains would need ~100 GiB), so more is refused up
#: front. None: half of the machine's physical memory, at least 2 GiB; set a number to override.
MAX_COVARIANCE_BYTES: int | None = None


def _covariance_limit() -> int:
    """The memory the domain covariance may take: :data:`MAX_COVARIANCE_BYTES`, or half the RAM."""
    return memory_limit() if MAX_COVARIANCE_BYTES is None else int(MAX_COVARIANCE_BYTES)


_NEF_NOTE = {
    "en": (
        "HI = LS × LE / ENV. Elasticities are +1 for LS and LE and −1 for ENV: a 1% rise in "
        "satisfaction with the living environment LOWERS the index by about 1%, although "
        "people are better off. The index is not bounded by 100: it exceeds 100 whenever "
        "LS × LE > 100 × ENV."
    ),
    "vi": (
        "HI = LS × LE / ENV. Độ co giãn là +1 đối với LS và LE và −1 đối với ENV: khi mức hài "
        "lòng với môi trường sống tăng 1% thì chỉ số GIẢM khoảng 1%, dù người dân được lợi. "
        "Chỉ số không bị chặn bởi 100: nó vượt 100 khi LS × LE > 100 × ENV."
    ),
}


# ---------------------------------------------------------------------------
# public helpers on published component values
# ---------------------------------------------------------------------------


def _nfc(s):
    return unicodedata.normalize("NFC", s) if isinstance(s, str) else s


def _plain(v) -> str:
    """A number for a user message: ``70.812892``, ``3``, ``undefined`` -- never ``np.float64(...)``."""
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        x = float(v)
        return "undefined (NaN)" if x != x else repr(round(x, 6)) if math.isfinite(x) else repr(x)
    return repr(v)


def _preset_of(spec_or_preset) -> tuple[str, IndexSpec | None]:
    if isinstance(spec_or_preset, IndexSpec):
        return spec_or_preset.preset, spec_or_preset
    if isinstance(spec_or_preset, str):
        from ..questionnaire.spec import PRESETS

        if spec_or_preset not in PRESETS:
            raise SpecError(f"unknown preset {spec_or_preset!r}; use one of {', '.join(PRESETS)} or pass an IndexSpec")
        return spec_or_preset, None
    raise SpecError(f"expected an IndexSpec or a preset name, got {type(spec_or_preset).__name__}")


def af_gnh_index(H_n: float, A_n: float) -> float:
    """The Alkire-Foster GNH index ``1 - H_n * A_n`` (proportions in [0, 1]).

    Parameters
    ----------
    H_n : float
        Headcount ratio of the not-yet-happy, in [0, 1].
    A_n : float
        Their average insufficiency (share of weighted indicators in which they are not
        sufficient), in [0, 1].

    Returns
    -------
    float
        ``1 - H_n * A_n`` in [0, 1]. ``af_gnh_index(0.591, 0.434)`` is 0.743506, Bhutan's
        published 2010 GNH index 0.743.

    Raises
    ------
    SpecError
        A value outside [0, 1] or not finite.

    References
    ----------
    Ura, K., Alkire, S., Zangmo, T. and Wangdi, K. (2012), ch. 2.
    """
    for nm, v in (("H_n", H_n), ("A_n", A_n)):
        if not (isinstance(v, (int, float, np.floating)) and math.isfinite(v) and 0 <= v <= 1):
            raise SpecError(f"{nm} must be a proportion in [0, 1], got {_plain(v)}")
    return 1.0 - float(H_n) * float(A_n)


def index_from_components(values: Mapping[str, float] | Sequence[float], spec_or_preset) -> float:
    """The index from published component values, with the spec's or preset's formula.

    Parameters
    ----------
    values : mapping name -> float, or sequence of float
        Component values in the spec's scale (percent for the bundled specs), e.g.
        ``{"ls": 40.71, "le": 41.6, "env": 31.8}``. With a preset name instead of a spec,
        ``nef_ratio`` takes three values in the order (LS, LE, ENV) (a mapping is read in
        its insertion order); ``af_gnh`` takes ``{"H_n": ..., "A_n": ...}`` as proportions;
        ``mean_of_shares``/``mean_score`` take any number of values (equal weights) and
        ``geometric`` their unweighted geometric mean. A sequence is matched to the
        spec's components in declared order.
    spec_or_preset : IndexSpec or str
        An index specification, or a preset name.

    Returns
    -------
    float
        The index, unrounded. The published Yên Bái components give the published index
        to its published rounding: (40.71, 41.6, 31.8) -> 53.2558 (published 53.3),
        (42.87, 45.5, 34.03) -> 57.3196 (published 57.3), (55.5, 78.72, 69.82) -> 62.5746
        (published 62.57); (57.13, 78.91, 68.72) -> 65.6014 is the June 2023 aim of 65.6
        (methodology/index.md, section 2).

    Raises
    ------
    SpecError
        Unknown preset, wrong number of values, unknown component names, a custom preset
        without a spec.
    EstimationError
        A value that is not a finite number >= 0 (text, a Boolean, NaN, a negative), or above
        the spec's scale (100 for percent, 1 for proportion).
        ``geometric``: a component is 0 (after any normalisation) and the spec declares no
        ``zero_rule`` floor -- the same rule, and the same message, as :func:`compute_index`.
    FormulaError
        The formula is undefined at these values (e.g. ENV = 0).

    Notes
    -----
    With a spec, components declared with ``normalise = {method = "minmax", ...}`` are
    normalised first and the spec's ``zero_rule`` floor (``geometric``) is applied, exactly
    as in :func:`compute_index`, so the published component values give the published index.
    """
    preset, spec = _preset_of(spec_or_preset)
    if preset == "af_gnh":
        if not isinstance(values, Mapping) or not {"H_n", "A_n"} <= set(values):
            raise SpecError("preset 'af_gnh' needs {'H_n': ..., 'A_n': ...} (proportions in [0, 1])")
        return af_gnh_index(values["H_n"], values["A_n"])
    if spec is not None:
        names = [c.name for c in spec.components]
        formula = Formula.parse(spec.formula or spec.implied_formula(), allowed_names=names)
    else:
        n = len(values)
        names = list(values.keys()) if isinstance(values, Mapping) else [f"c{i + 1}" for i in range(n)]
        names = [str(x) if str(x).isidentifier() else f"c{i + 1}" for i, x in enumerate(names)]
        if preset == "nef_ratio":
            if n != 3:
                raise SpecError(f"preset 'nef_ratio' needs three components (LS, LE, ENV), got {n}")
            text = f"{names[0]} * {names[1]} / {names[2]}"
        elif preset in ("mean_of_shares", "mean_score"):
            text = "(" + " + ".join(names) + f") / {n}"
        elif preset == "geometric":
            text = "(" + " * ".join(names) + f")^(1 / {n})"
        else:
            raise SpecError("preset 'custom' needs an IndexSpec with a formula")
        formula = Formula.parse(text, allowed_names=names)
    if isinstance(values, Mapping):
        vals = list(values.values()) if spec is None else None
        if spec is not None:
            unknown = [k for k in values if k not in names]
            missing = [k for k in names if k not in values]
            if unknown or missing:
                raise SpecError(
                    f"component values {sorted(values)} do not match the spec's components "
                    f"{names} (unknown {unknown}, missing {missing})"
                )
            vals = [values[k] for k in names]
    else:
        vals = list(values)
        if len(vals) != len(names):
            raise SpecError(f"{len(vals)} values given for {len(names)} components {names}")
    env = _formula_inputs(
        {nm: _component_value(nm, v, _component_top(spec, nm)) for nm, v in zip(names, vals)}, preset, spec
    )
    return float(formula.evaluate(env))


def _component_top(spec, name: str) -> float | None:
    """The scale's top a published component value must not exceed; None when unknown (no spec) or
    when the spec normalises the component (its published value is in the component's raw units)."""
    if spec is None:
        return None
    comp = next((c for c in spec.components if c.name == name), None)
    if comp is not None and comp.normalise is not None:
        return math.inf
    return 100.0 if spec.scale == "percent" else 1.0


def _component_value(name: str, v, top: float | None) -> float:
    """A published component value: a finite number >= 0 (and <= the scale's top when known; a
    raw value, ``top`` = inf, is only finite)."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise EstimationError(
            f"component {name!r}: {v!r} is not a number; give the published value as a number (e.g. 40.71)"
        )
    x = float(v)
    if top == math.inf:
        if not math.isfinite(x):
            raise EstimationError(f"component {name!r} = {x!r} is not a finite number")
        return x
    if not math.isfinite(x) or x < 0 or (top is not None and x > top):
        scale = f"[0, {top:g}]" if top is not None else "0 or more"
        raise EstimationError(
            f"component {name!r} = {x!r} is outside {scale}: give the published value in the spec's "
            "scale (percent for the bundled specs: 40.71, not 0.4071 or -40.71)"
        )
    return x


def _formula_inputs(env: dict, preset: str, spec) -> dict:
    """Component values as the formula takes them, by the rules of :func:`compute_index`:
    the spec's min-max normalisation, then for ``geometric`` the zero rule (a zero component
    is an error unless the spec declares a floor, which replaces values below it)."""
    if spec is not None:
        top = 100.0 if spec.scale == "percent" else 1.0
        for c in spec.components:
            if c.normalise is not None:
                env[c.name] = c.normalise.apply(env[c.name], top)
    if preset != "geometric":
        return env
    floor = spec.zero_rule if spec is not None and spec.zero_rule != "error" else None
    for nm, v in env.items():
        if floor is not None and v < floor:
            env[nm] = float(floor)
        elif floor is None and v == 0:
            raise EstimationError(
                f"component {nm!r} is 0: the geometric mean would be 0 whatever the other components "
                "are. Declare zero_rule = <positive floor> in the spec (e.g. 0.5, percent) or use "
                "another preset."
            )
    return env


def nef_sensitivity(ls: float, le: float, env: float) -> pd.DataFrame:
    """Sensitivity of ``HI = LS × LE / ENV`` to each component (all in percent).

    Parameters
    ----------
    ls, le, env : float
        Component values in percent (ENV > 0).

    Returns
    -------
    DataFrame
        Index ``["ls", "le", "env"]``, columns ``value``, ``partial_derivative``
        (``∂HI/∂c``: ``LE/ENV``, ``LS/ENV``, ``−LS·LE/ENV²``) and ``elasticity``
        (``∂HI/∂c · c / HI`` = +1, +1, −1). ``.attrs["note"]`` holds the plain-language
        note in English and Vietnamese.

    Raises
    ------
    SpecError
        ENV is not positive.
    EstimationError
        A value that is not a finite number in [0, 100] (text, a Boolean, NaN, a negative).
    """
    if isinstance(env, (int, float, np.integer, np.floating)) and not isinstance(env, bool) and not env > 0:
        raise SpecError(f"ENV must be positive for HI = LS × LE / ENV, got {_plain(env)}")
    ls, le, env = (_component_value(nm, v, 100.0) for nm, v in (("ls", ls), ("le", le), ("env", env)))
    hi = ls * le / env
    d = np.array([le / env, ls / env, -ls * le / env**2])
    vals = np.array([ls, le, env], dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        el = d * vals / hi
    out = pd.DataFrame({"value": vals, "partial_derivative": d, "elasticity": el}, index=["ls", "le", "env"])
    out.attrs["note"] = dict(_NEF_NOTE)
    return out


# ---------------------------------------------------------------------------
# exact Alkire-Foster identification
# ---------------------------------------------------------------------------


def _as_fraction(x: float, what: str) -> Fraction:
    f = Fraction(x).limit_denominator(_MAX_DEN)
    if abs(float(f) - float(x)) > 1e-9 * max(1.0, abs(float(x))):
        raise SpecError(
            f"{what} = {_plain(x)} is not close to a fraction with denominator <= {_MAX_DEN}; "
            "give it as a simpler decimal (e.g. 0.25, 1/9 as 0.1111111111111111)"
        )
    return f


def af_happy(indicators: np.ndarray, weights: Sequence[float], threshold: float):
    """Alkire-Foster identification in exact integer arithmetic.

    Parameters
    ----------
    indicators : ndarray, shape (n, m)
        0/1 sufficiency indicators (complete rows; no NaN).
    weights : sequence of float, length m
        Indicator weights (any positive scale). Each is turned into the nearest fraction
        with denominator at most 10^6 (``Fraction.limit_denominator``), e.g. 0.1111111111111111
        -> 1/9, and all are put on a common integer scale.
    threshold : float
        The happiness threshold k as a proportion (0.66 -> 33/50).

    Returns
    -------
    happy : ndarray of bool, shape (n,)
        ``achievement >= k`` decided exactly: ``a · k_den >= k_num · W`` with ``a`` the
        integer weighted count of sufficient indicators and ``W`` the integer total weight.
    share : ndarray of float, shape (n,)
        The achievement share ``a / W`` (for reporting; never used for the decision).

    Raises
    ------
    SpecError
        A weight or the threshold cannot be represented as such a fraction, a negative
        weight, or all weights zero.

    Notes
    -----
    Summing float weights such as 1/9 in a different order can put a respondent exactly
    on the threshold on either side of it; integer arithmetic cannot.
    """
    fr = [_as_fraction(w, f"indicator weight {j + 1}") for j, w in enumerate(weights)]
    if any(f < 0 for f in fr):
        raise SpecError("indicator weights must be non-negative")
    L = 1
    for f in fr:
        L = L * f.denominator // math.gcd(L, f.denominator)
    W = np.array([int(f * L) for f in fr], dtype=np.int64)
    total = int(W.sum())
    if total <= 0:
        raise SpecError("all indicator weights are zero")
    k = _as_fraction(threshold, "threshold k")
    X = np.asarray(indicators)
    if X.dtype != np.int64:
        X = X.astype(np.int64)
    a = X @ W  # exact: integers
    if total * k.numerator > 2**62 or int(a.max(initial=0)) * k.denominator > 2**62:
        big = [int(v) * k.denominator >= total * k.numerator for v in a.tolist()]  # pragma: no cover
        happy = np.array(big, dtype=bool)  # pragma: no cover
    else:
        happy = a * k.denominator >= total * k.numerator
    return happy, a / total


# ---------------------------------------------------------------------------
# result objects
# ---------------------------------------------------------------------------


def _fmt_thr(x) -> str:
    return f"{x:g}"


def _publication_reasons(e, n, df, min_n, max_cv, max_hw, min_df, undefined) -> tuple[list, list]:
    """Why a domain estimate is not publishable, in English and Vietnamese (empty lists: publishable)."""
    en, vi = [], []
    if not math.isfinite(e.estimate):
        en.append(f"index undefined: {undefined}")
        vi.append("chỉ số không xác định")
    if min_n is not None and n < min_n:
        en.append(f"n = {n} < {min_n}")
        vi.append(f"cỡ mẫu {n} < {min_n}")
    cv = e.cv
    if max_cv is not None and cv == cv and cv > max_cv:
        en.append(f"CV = {cv:.1%} > {max_cv:.0%}")
        vi.append(f"hệ số biến thiên {cv:.1%} > {max_cv:.0%}".replace(".", ","))  # Vietnamese decimal comma
    if not df > 0:
        en.append("0 design degrees of freedom")
        vi.append("không đủ bậc tự do (0)")
    elif min_df is not None and df < min_df:
        en.append(f"only {df:g} design degrees of freedom (< {min_df})")
        vi.append(f"chỉ có {df:g} bậc tự do của thiết kế (< {min_df})")
    if max_hw is not None and math.isfinite(e.estimate):
        lo, hi = e.ci_low, e.ci_high
        if lo == lo and hi == hi:
            # the larger distance from the estimate to a bound (asymmetric logit/log intervals)
            hw = max(e.estimate - lo, hi - e.estimate)
            if hw > max_hw:
                en.append(f"CI half-width {hw:.2f} > {_fmt_thr(max_hw)} points")
                vi.append(f"nửa độ rộng KTC {hw:.2f} > {_fmt_thr(max_hw)} điểm".replace(".", ","))
        elif df > 0:
            en.append("confidence interval undefined")
            vi.append("không xác định được khoảng tin cậy")
    return en, vi


class DomainIndexTable(EstimateTable):
    """The index per domain (commune/ward): an :class:`EstimateTable` with publication flags.

    Extra attributes
    ----------------
    publishable : ndarray of bool
        False when the domain has fewer respondents than the spec's ``publication.min_n``,
        a coefficient of variation above ``publication.max_cv``, an interval whose
        half-width (the larger distance from the estimate to a bound, in index points)
        exceeds ``publication.max_ci_halfwidth`` (default 10 points), fewer design degrees
        of freedom than ``publication.min_df`` (default 5), or an undefined index.
    reasons : list of str
        Why a domain is not publishable (empty string when it is), each reason as
        "English / Vietnamese".
    reasons_en, reasons_vi : list of str
        The same reasons in one language.
    publication_rule : dict
        The thresholds in force (:meth:`Publication.effective`; ``None`` = not checked).
    differences : list of Estimate
        Domain minus city, in index points, with SE from the covariance of the domain and
        city estimates (the city includes the domain's respondents) and a Wald interval on
        the domain's df.
    component_estimates : DataFrame
        The components in every domain (same scale as the index).
    """

    def __init__(
        self,
        *args,
        publishable,
        reasons,
        differences,
        component_estimates,
        reasons_en=None,
        reasons_vi=None,
        publication_rule=None,
        **kw,
    ):
        super().__init__(*args, **kw)
        self.publishable = np.asarray(publishable, dtype=bool)
        self.reasons = list(reasons)
        self.reasons_en = list(reasons_en) if reasons_en is not None else list(self.reasons)
        self.reasons_vi = list(reasons_vi) if reasons_vi is not None else list(self.reasons)
        self.publication_rule = dict(publication_rule or {})
        self.differences = list(differences)
        self.component_estimates = component_estimates

    def to_frame(self) -> pd.DataFrame:
        """Key columns, estimate, se, ci_low, ci_high, df, deff, n, then cv, publishable,
        reason, reason_en, reason_vi, diff_city_pp, diff_se, diff_ci_low, diff_ci_high and one column per component."""
        out = super().to_frame()
        out["cv"] = [e.cv if e.estimate == e.estimate else float("nan") for e in self.estimates]
        out["publishable"] = self.publishable
        out["reason"] = self.reasons
        out["reason_en"] = self.reasons_en
        out["reason_vi"] = self.reasons_vi
        out["diff_city_pp"] = [d.estimate for d in self.differences]
        out["diff_se"] = [d.se for d in self.differences]
        out["diff_ci_low"] = [d.ci_low for d in self.differences]
        out["diff_ci_high"] = [d.ci_high for d in self.differences]
        comp = self.component_estimates.reset_index(drop=True)
        for c in comp.columns:
            out[f"component_{c}"] = comp[c].to_numpy()
        return out


@dataclass
class IndexResult:
    """Everything :func:`compute_index` computed.

    Attributes
    ----------
    overall : Estimate
        The city index in the spec's scale (percent for the bundled specs), with SE, the
        interval stated in ``overall.ci_method`` (``"logit"``, ``"log"`` or ``"wald"``) on
        the design's degrees of freedom.
    components : EstimateTable
        One row per component (same scale), with their joint covariance ``.vcov``; a
        replicate design's table carries the replicate values so ``.transform`` re-evaluates.
    items : EstimateTable
        The item shares (proportions in [0, 1]) with their joint covariance.
    by_group : DomainIndexTable or None
        One row per domain when ``by`` was given.
    level : Level or None
        The spec's **happiness band** containing the city estimate (``None`` when the spec
        has no bands). Not a confidence level: the confidence level of the intervals is
        ``overall.level`` (the ``level=`` argument of :func:`compute_index`). ``level`` is
        kept for compatibility; :attr:`band` is the documented name of the same object.
    diagnostics : dict
        ``n``, ``n_domain`` rows used, ``sum_weights``, ``kish_effective_n``, ``deff``
        (per component and for the index: the design variance, linearised or replicate, over
        the SRS-without-replacement variance of the same linearised scores), ``item_nonresponse``
        (DataFrame), ``cronbach_alpha`` per component, ``item_analysis`` (DataFrame).
    sensitivity : DataFrame
        Per formula input: value, partial derivative, elasticity; ``.attrs["note"]``.
    provenance : dict
        ``spec_name``, ``spec_version``, ``spec_hash``, ``data_hash`` (SHA-256 of the used
        columns in canonical form), ``library_version``, ``variance_method``, ``seed``.
    ci_scale : str
        Scale of the intervals of ``overall`` and ``by_group`` and why.
    af : dict or None
        For ``af_gnh``: ``H_n`` and ``A_n`` (Estimates, proportions), ``M0``, the
        decomposition by indicator, by domain and by group (DataFrames of contributions
        in percent of ``1 - GNH``).
    """

    overall: Estimate
    components: EstimateTable
    items: EstimateTable
    by_group: DomainIndexTable | None
    level: Any
    diagnostics: dict
    sensitivity: pd.DataFrame
    provenance: dict
    ci_scale: str
    variance_method: str
    spec: IndexSpec = field(repr=False)
    af: dict | None = None

    @property
    def band(self):
        """The spec's happiness band (a :class:`~happiness_index.spec.Level`) containing the city
        estimate, or ``None`` when the spec has no bands. Same object as :attr:`level`
        (the historical name); prefer ``band``, which cannot be confused with the
        confidence level ``overall.level``."""
        return self.level

    def to_frame(self) -> pd.DataFrame:
        """One row for the city and one per domain.

        Columns: ``scope`` ("city"/"domain"), the domain keys, ``estimate``, ``se``,
        ``ci_low``, ``ci_high``, ``ci_method``, ``df``, ``n``, ``cv``, ``publishable``,
        ``reason``, ``diff_city_pp`` (+ SE and interval), ``level`` (English band label) and
        ``component_<name>`` columns.
        """
        o = self.overall
        city = {
            "scope": "city",
            "estimate": o.estimate,
            "se": o.se,
            "ci_low": o.ci_low,
            "ci_high": o.ci_high,
            "ci_method": o.ci_method,
            "df": o.df,
            "n": o.n,
            "cv": o.cv,
            "publishable": True,
            "reason": "",
            "reason_en": "",
            "reason_vi": "",
            "diff_city_pp": 0.0,
            "diff_se": 0.0,
            "diff_ci_low": 0.0,
            "diff_ci_high": 0.0,
            "level": None if self.level is None else self.level.labels.en,
        }
        for e in self.components:
            city[f"component_{e.name}"] = e.estimate
        rows = [city]
        if self.by_group is not None:
            bg = self.by_group.to_frame()
            bg.insert(0, "scope", "domain")
            bg["ci_method"] = [e.ci_method for e in self.by_group.estimates]
            bg["level"] = [self._level_label(v) for v in bg["estimate"]]
            bg = bg.drop(columns=["deff"])
            return pd.concat([pd.DataFrame(rows), bg], ignore_index=True)
        return pd.DataFrame(rows)

    def _level_label(self, v):
        if not self.spec.levels or not (v == v):
            return None
        try:
            return self.spec.level_for(v).labels.en
        except SpecError:
            return None

    def to_dict(self) -> dict:
        """A JSON-serialisable dict (NaN -> None) for pipelines and reports."""

        def est(e):
            return _clean(e.to_dict())

        d = {
            "spec": {
                "name": self.spec.name,
                "version": self.spec.version,
                "preset": self.spec.preset,
                "formula": self.spec.formula,
                "scale": self.spec.scale,
            },
            "overall": est(self.overall),
            "level": None
            if self.level is None
            else {
                "lower": self.level.lower,
                "upper": self.level.upper,
                "vi": self.level.labels.vi,
                "en": self.level.labels.en,
            },
            "ci_scale": self.ci_scale,
            "variance_method": self.variance_method,
            "components": {
                "estimates": [est(e) for e in self.components],
                "vcov": _clean(self.components.vcov_matrix().tolist()),
                "names": list(self.components.labels),
            },
            "items": [est(e) for e in self.items],
            "by_group": None if self.by_group is None else _clean(self.by_group.to_frame().to_dict(orient="records")),
            "diagnostics": _clean(
                {
                    k: (v.to_dict(orient="records") if isinstance(v, pd.DataFrame) else v)
                    for k, v in self.diagnostics.items()
                }
            ),
            "sensitivity": {
                "table": _clean(self.sensitivity.reset_index(names="input").to_dict(orient="records")),
                "note": self.sensitivity.attrs.get("note"),
            },
            "provenance": _clean(self.provenance),
        }
        if self.af is not None:
            d["af"] = _clean(
                {
                    k: (
                        v.to_dict(orient="records")
                        if isinstance(v, pd.DataFrame)
                        else v.to_dict()
                        if isinstance(v, Estimate)
                        else v
                    )
                    for k, v in self.af.items()
                }
            )
        return d

    def __str__(self) -> str:
        o = self.overall
        lines = [
            f"{self.spec.labels.en or self.spec.name} / {self.spec.labels.vi}",
            f"  index {o.estimate:.2f} (SE {o.se:.2f}; {100 * o.level:g}% CI {o.ci_low:.2f} to "
            f"{o.ci_high:.2f}, {o.ci_method} scale, df {o.df:g}; {self.variance_method})",
        ]
        if self.level is not None:
            lines.append(f"  happiness band: {self.level.labels.en} / {self.level.labels.vi}")
        for e in self.components:
            lines.append(f"  {e.name}: {e.estimate:.2f} (SE {e.se:.2f})")
        if self.by_group is not None:
            lines.append(f"  {len(self.by_group)} domains, {int((~self.by_group.publishable).sum())} not publishable")
        return "\n".join(lines)


def to_jsonable(x):
    """A JSON-serialisable copy of ``x``.

    Mappings, lists, tuples, arrays and DataFrames (as records) are converted
    recursively; numpy scalars become Python scalars; NaN, infinities, ``pd.NA`` and
    ``pd.NaT`` become ``None`` (JSON has no NaN). Used by :meth:`IndexResult.to_dict`
    and the report's ``results.json``.
    """
    if isinstance(x, Mapping):
        return {str(k): to_jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [to_jsonable(v) for v in x]
    if isinstance(x, (np.bool_, bool)):
        return bool(x)
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return float(x) if math.isfinite(x) else None
    if isinstance(x, np.ndarray):
        return to_jsonable(x.tolist())
    if isinstance(x, pd.DataFrame):
        return to_jsonable(x.to_dict(orient="records"))
    if x is None or x is pd.NA or x is pd.NaT:
        return None
    return x


_clean = to_jsonable


# ---------------------------------------------------------------------------
# building the computation plan
# ---------------------------------------------------------------------------


@dataclass
class _Plan:
    columns: list  # k basic columns, (n,) each (float, or bool for 0/1 masks): never stacked into n x k
    col_names: list
    ratio_names: list  # p
    num: np.ndarray  # (p,)
    den: np.ndarray  # (p,)
    A: np.ndarray  # (K, p) components = A @ shares (already in the spec's scale)
    comp_names: list
    B: np.ndarray  # (K', p) formula inputs = B @ shares
    input_names: list
    formula: Formula
    floor: float | None = None
    item_index: list = field(default_factory=list)  # ratio indices of the item shares
    extra: dict = field(default_factory=dict)
    # min-max normalisation (spec components' ``normalise``): inputs = clip(B @ shares - offset,
    # 0, top); B already carries the factor top / (max - min). None: no normalisation.
    offset: np.ndarray | None = None
    top: np.ndarray | None = None

    @property
    def k(self) -> int:
        return len(self.columns)

    def indicator_columns(self, item: str) -> tuple[np.ndarray, np.ndarray]:
        """The item's two 0/1 columns (satisfied, answered), (n,) each, as the plan holds them."""
        j = next(j for j in self.item_index if self.ratio_names[j] == item)
        return self.columns[self.num[j]], self.columns[self.den[j]]


def _check_item_codes(data: pd.DataFrame, spec: IndexSpec) -> None:
    """Refuse indicator values that are neither an allowed code nor a missing code.

    The rules are the spec's and the validator's: a column is read as numbers the way
    :func:`~happiness_index.schema.validate_survey` reads it, missing codes mean missing,
    and every other distinct value must pass :meth:`Item.allows` (codes, or an integer in
    ``[minimum, maximum]``). Only the distinct values are tested, not every respondent.

    Raises
    ------
    SchemaError
        Naming the item, the rows (index labels), the offending values and the allowed codes.
    """
    from ..reading.schema import format_codes, format_value, to_number

    cols = {_nfc(str(c)): c for c in data.columns}
    problems = []
    for it in spec.items:
        if it.satisfied is None or it.name not in cols:
            continue  # absent columns: satisfied_indicators names them
        col = data[cols[it.name]]
        if it.numeric and _codes_allowed(col, it):
            continue  # every distinct value is a code or a missing code: no n-vector needed
        if it.numeric:
            v, unparseable, _ = to_number(col)
            missing = np.isnan(v)
            if it.missing_codes:
                missing |= np.isin(v, np.asarray(it.missing_codes, dtype=float))
            allowed = [u for u in pd.unique(v[~missing]).tolist() if it.allows(float(u))]
            bad = ~missing & ~np.isin(v, np.asarray(allowed, dtype=float))
            if unparseable is not None:
                bad |= unparseable
            shown = col  # turned into Python objects only when a value is bad
        else:
            t = col.astype("string").str.strip().str.normalize("NFC")
            missing = (t.isna() | (t == "") | t.isin([str(m) for m in it.missing_codes])).to_numpy(dtype=bool)
            bad = ~missing & ~t.isin([str(c) for c in it.codes]).fillna(False).to_numpy(dtype=bool)
            shown = t
        if bad.any():
            pos = np.flatnonzero(bad)
            shown = shown.to_numpy(dtype=object)
            values = list(dict.fromkeys(format_value(x.item() if isinstance(x, np.generic) else x) for x in shown[pos]))
            allowed = it.describe_codes()
            if it.missing_codes:
                allowed += f"; missing codes {format_codes(it.missing_codes)}"
            problems.append(
                f"item {it.name!r} has {len(pos)} value(s) that are neither an allowed code nor a missing "
                f"code ({allowed}): value(s) {', '.join(values[:10])} at row(s) "
                f"{describe_rows(data.index[pos].tolist())}"
            )
    if problems:
        raise SchemaError(
            "; ".join(problems) + ". Recode them or record them as missing (validate_survey lists every problem)."
        )


def _codes_allowed(col: pd.Series, it) -> bool:
    """True when a column of whole numbers (numpy integer dtype) holds only allowed and missing codes,
    decided on its distinct values (no float copy of the column)."""
    if not (isinstance(col.dtype, np.dtype) and col.dtype.kind in "iu"):
        return False
    missing = {float(m) for m in it.missing_codes}
    return all(float(u) in missing or it.allows(float(u)) for u in pd.unique(col.to_numpy()).tolist())


def _item_scores(data: pd.DataFrame, spec: IndexSpec, name: str) -> np.ndarray:
    """Item values rescaled to [0, 1] for the mean_score preset (NaN when missing)."""
    it = spec.item(name)
    if not it.numeric:
        raise SpecError(f"preset 'mean_score' needs numeric items; item {name!r} has text codes")
    v = pd.to_numeric(data[name], errors="coerce").astype("float64").to_numpy(copy=True)
    if it.missing_codes:
        v[np.isin(v, np.asarray(it.missing_codes, dtype=float))] = np.nan
    if it.type == "integer":
        if it.minimum is None or it.maximum is None:
            raise SpecError(
                f"preset 'mean_score': integer item {name!r} needs 'minimum' and 'maximum' to be rescaled to 0-100"
            )
        lo, hi = float(it.minimum), float(it.maximum)
    else:
        codes = [float(c) for c in it.codes]
        lo, hi = min(codes), max(codes)
    if not hi > lo:
        raise SpecError(f"item {name!r} has a single code; it cannot be rescaled to 0-100")
    bad = np.isfinite(v) & ((v < lo) | (v > hi))
    if bad.any():
        rows = data.index[bad][:5].tolist()
        raise EstimationError(
            f"item {name!r} has values outside {lo:g}..{hi:g} at rows {rows}; run validate_survey and recode them"
        )
    return (v - lo) / (hi - lo)


class _Indicators:
    """The spec's satisfied indicators read item by item as Boolean masks (:meth:`IndexSpec.item_indicator`),
    cached: 2 bytes a respondent per item instead of an n x k float table."""

    def __init__(self, data: pd.DataFrame, spec: IndexSpec):
        spec.satisfied_indicators(data.iloc[:0])  # every indicator column present (SpecError naming it)
        self.data, self.spec = data, spec
        self.cache: dict = {}

    def masks(self, item: str) -> tuple[np.ndarray, np.ndarray]:
        """``(satisfied, answered)`` of one item."""
        if item not in self.cache:
            self.cache[item] = self.spec.item_indicator(self.data, item)
        return self.cache[item]

    def matrix(self, items: Sequence[str]) -> np.ndarray:
        """(n, m) float table: 1.0 satisfied, 0.0 not, NaN not answered (for the Alkire-Foster counts)."""
        out = np.empty((len(self.data), len(items)))
        for j, it in enumerate(items):
            satisfied, answered = self.masks(it)
            np.copyto(out[:, j], satisfied)
            out[~answered, j] = np.nan
        return out


def _build_plan(data: pd.DataFrame, spec: IndexSpec, ind: _Indicators, scale: float) -> _Plan:
    cols: list = []
    names: list = []

    def add(vec, nm):
        cols.append(vec)
        names.append(nm)
        return len(cols) - 1

    masks: dict = {}

    def add_mask(r, nm):
        # answered-masks are shared between items with the same pattern of non-response
        # (often: no missing value at all), which keeps the engine's column count small
        key = hashlib.blake2b(np.packbits(r).tobytes(), digest_size=16).digest()
        if key in masks and np.array_equal(cols[masks[key]] > 0, r):
            return masks[key]
        masks[key] = add(np.asarray(r, dtype=bool), nm)
        return masks[key]

    ratio_names, num, den = [], [], []

    def ratio(nm, a, b):
        ratio_names.append(nm)
        num.append(a)
        den.append(b)
        return len(ratio_names) - 1

    item_ratio: dict = {}
    used_items = []
    for c in spec.components:
        for it in c.items:
            if it not in used_items:
                used_items.append(it)
    mean_score = spec.preset == "mean_score"
    for it in used_items:
        # satisfied and answered, as 0/1 masks: the engine reads them as the float columns
        # they equal (1.0 / 0.0), at an eighth of the memory
        satisfied, answered = ind.masks(it)
        ia = add(satisfied, f"{it}:satisfied")
        ib = add_mask(answered, f"{it}:answered")
        item_ratio[it] = ratio(it, ia, ib)
    score_ratio: dict = {}
    if mean_score:
        for it in used_items:
            s = _item_scores(data, spec, it)
            r = np.isfinite(s)
            ia = add(np.where(r, s, 0.0), f"{it}:score")
            ib = add_mask(r, f"{it}:scored")
            score_ratio[it] = ratio(f"{it}:score", ia, ib)

    K = len(spec.components)
    comp_rows = []
    for c in spec.components:
        row = {}
        if c.rule == "mean_of_item_shares":
            src = score_ratio if mean_score else item_ratio
            for it in c.items:
                row[src[it]] = scale / len(c.items)
        else:
            complete = np.logical_and.reduce([ind.masks(it)[1] for it in c.items])
            cnt = np.sum([ind.masks(it)[0] for it in c.items], axis=0)  # satisfied (and answered) items
            need = len(c.items) if c.rule == "all_satisfied" else c.k
            v = (cnt >= need) & complete
            ia = add(v, f"{c.name}:row")
            ib = add(complete, f"{c.name}:complete")
            row[ratio(f"{c.name}:row", ia, ib)] = scale
        comp_rows.append(row)

    extra = _af_plan(spec, ind, add, ratio) if spec.preset == "af_gnh" else {}

    p = len(ratio_names)
    A = np.zeros((K, p))
    for kk, row in enumerate(comp_rows):
        for j, v in row.items():
            A[kk, j] += v
    comp_names = [c.name for c in spec.components]
    B, input_names, formula = _plan_formula(spec, A, extra, scale, comp_names)
    floor = spec.zero_rule if (spec.preset == "geometric" and spec.zero_rule != "error") else None
    offset = top = None
    if spec.preset != "af_gnh" and any(c.normalise is not None for c in spec.components):
        B, offset, top = _normalised_inputs(B, spec, scale)
    return _Plan(
        cols,
        names,
        ratio_names,
        np.array(num),
        np.array(den),
        A,
        comp_names,
        B,
        input_names,
        formula,
        floor,
        [item_ratio[i] for i in used_items],
        extra,
        offset,
        top,
    )


def _af_plan(spec, ind, add, ratio) -> dict:
    """Alkire-Foster columns (complete, not-yet-happy, censored insufficiency, per indicator) and ratios."""
    extra: dict = {}
    ind_items = [it for it in spec.items if it.satisfied is not None]
    names_af = [it.name for it in ind_items]
    M = ind.matrix(names_af)
    complete = np.isfinite(M).all(axis=1)
    X = np.where(complete[:, None], M, 0.0).astype(np.int64)
    happy, share = af_happy(X, [it.weight for it in ind_items], spec.af.threshold)
    notyet = (~happy) & complete
    cens = np.where(notyet, 1.0 - share, 0.0)
    i_r = add(complete.astype(float), "af:complete")
    i_ny = add(notyet.astype(float), "af:not_yet_happy")
    i_c = add(cens, "af:censored_insufficiency")
    extra["H_n"] = ratio("H_n", i_ny, i_r)
    extra["A_n"] = ratio("A_n", i_c, i_ny)
    extra["M0"] = ratio("M0", i_c, i_r)
    extra["censored"] = {}
    for j, nm in enumerate(names_af):
        ij = add((notyet & (X[:, j] == 0)).astype(float), f"af:censored:{nm}")
        extra["censored"][nm] = ratio(f"censored_headcount:{nm}", ij, i_r)
    extra["af_items"] = names_af
    extra["af_weights"] = [float(it.weight) for it in ind_items]
    extra["n_on_threshold"] = int((_on_threshold(X, ind_items, spec) & complete).sum())
    return extra


def _plan_formula(spec, A, extra, scale, comp_names):
    """The index formula over its inputs: ``(B, input names, Formula)`` with inputs = B @ shares."""
    p = A.shape[1]
    if spec.preset == "af_gnh":
        B = np.zeros((1, p))
        B[0, extra["M0"]] = 1.0
        input_names = ["M0"]
        return B, input_names, Formula.parse(f"{scale!r} * (1 - M0)", allowed_names=input_names)
    text = spec.formula or spec.implied_formula()
    return A.copy(), comp_names, Formula.parse(text, allowed_names=comp_names)


def _normalised_inputs(B: np.ndarray, spec: IndexSpec, scale: float) -> tuple:
    """Fold each component's min-max normalisation into the rows of B: the formula input is
    ``scale * (x - min) / (max - min)`` = ``B'_k @ shares - offset_k``, clipped to [0, top_k]."""
    B = B.copy()
    offset = np.zeros(len(spec.components))
    top = np.full(len(spec.components), np.inf)
    for k, c in enumerate(spec.components):
        if c.normalise is not None:
            factor = scale / (c.normalise.max - c.normalise.min)
            B[k] *= factor
            offset[k] = c.normalise.min * factor
            top[k] = scale
    return B, offset, top


def _on_threshold(X, ind_items, spec) -> np.ndarray:
    """Respondents whose achievement equals the threshold exactly (for the diagnostics)."""
    fr = [_as_fraction(it.weight, "w") for it in ind_items]
    L = 1
    for f in fr:
        L = L * f.denominator // math.gcd(L, f.denominator)
    W = np.array([int(f * L) for f in fr], dtype=np.int64)
    k = _as_fraction(spec.af.threshold, "k")
    return (X @ W) * k.denominator == int(W.sum()) * k.numerator


# ---------------------------------------------------------------------------
# the function of the totals
# ---------------------------------------------------------------------------


def _shares(T: np.ndarray, plan: _Plan) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return T[..., plan.num] / T[..., plan.den]


def _lin(S: np.ndarray, M: np.ndarray) -> np.ndarray:
    """``S @ M.T`` where a NaN share only spoils the rows of ``M`` that use it.

    A plain matrix product gives NaN for every component as soon as one item share is
    undefined (``NaN * 0 = NaN``); here a combination is NaN only when a share with a
    non-zero coefficient is undefined (available-case per item).
    """
    S = np.asarray(S, dtype=float)
    bad = ~np.isfinite(S)
    out = np.where(bad, 0.0, S) @ M.T
    if bad.any():
        spoiled = (bad.astype(float) @ (M != 0).T.astype(float)) > 0
        out = np.where(spoiled, np.nan, out)
    return out


def _inputs(S: np.ndarray, plan: _Plan):
    """Formula inputs from shares; ``floored`` marks the inputs held at a bound (normalisation
    clip or zero-rule floor), whose derivative is 0."""
    X = _lin(S, plan.B)
    floored = None
    if plan.offset is not None:
        X = X - plan.offset
        floored = (X < 0) | (X > plan.top)
        X = np.clip(X, 0.0, plan.top)
    if plan.floor is not None:
        below = X < plan.floor
        X = np.where(below, plan.floor, X)
        floored = below if floored is None else floored | below
    return X, floored


def _index_values(S: np.ndarray, plan: _Plan) -> np.ndarray:
    X, _ = _inputs(S, plan)
    env = {nm: X[..., i] for i, nm in enumerate(plan.input_names)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(plan.formula.evaluate(env, errors="nan"), dtype=float)


def _jacobian_shares_wrt_totals(T: np.ndarray, S: np.ndarray, plan: _Plan) -> np.ndarray:
    """(U, p, k): d share_j / d total."""
    U = T.shape[0]
    p, k = len(plan.num), T.shape[1]
    J = np.zeros((U, p, k))
    tden = T[:, plan.den]
    with np.errstate(divide="ignore", invalid="ignore"):
        J[:, np.arange(p), plan.num] += 1.0 / tden
        J[:, np.arange(p), plan.den] += -S / tden
    return J


def _jacobian_q_wrt_shares(S: np.ndarray, plan: _Plan):
    """Quantities q = [shares (p), components (K), index (1)] and dq/dshares (U, Q, p)."""
    U, p = S.shape
    K = plan.A.shape[0]
    X, floored = _inputs(S, plan)
    env = {nm: X[:, i] for i, nm in enumerate(plan.input_names)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        val, g = plan.formula.value_and_gradient(env, order=plan.input_names, errors="nan")
    val = np.broadcast_to(np.asarray(val, dtype=float), (U,))
    g = np.asarray(g, dtype=float).reshape(U, len(plan.input_names))
    if floored is not None:
        g = np.where(floored, 0.0, g)
    Q = p + K + 1
    J = np.zeros((U, Q, p))
    J[:, :p, :] = np.eye(p)[None]
    J[:, p : p + K, :] = plan.A[None]
    J[:, p + K, :] = g @ plan.B
    q = np.concatenate([S, _lin(S, plan.A), val[:, None]], axis=1)
    return q, J, g


# ---------------------------------------------------------------------------
# compute_index
# ---------------------------------------------------------------------------


def _resolve_by(by, spec: IndexSpec, data: pd.DataFrame):
    if by is None or by is False:
        return None
    cols = [by] if isinstance(by, str) else list(by)
    out = []
    for c in cols:
        c = _nfc(c)
        if c == "commune" and "commune" not in data.columns and spec.design.commune:
            c = spec.design.commune
        if c not in data.columns:
            raise EstimationError(
                f"by={c!r} is not a column of the data; the spec's commune column is {spec.design.commune!r}"
            )
        out.append(c)
    return out


def _default_design(data: pd.DataFrame, spec: IndexSpec, options: Mapping | None) -> SurveyDesign:
    dc = spec.design
    for role, col in (("weights", dc.weights), ("strata", dc.strata), ("psu", dc.psu), ("fpc", dc.fpc)):
        if col is not None and col not in data.columns:
            raise DesignError(
                f"the spec's [design] {role} column {col!r} is not in the data; add it, fix the spec, "
                "or pass design=SurveyDesign(...) explicitly"
            )
    kw = dict(weights=dc.weights, strata=dc.strata, psu=dc.psu, fpc=dc.fpc)
    kw.update(options or {})
    return SurveyDesign(data, **kw)


def _same_values(a: pd.Series, b: pd.Series) -> bool:
    """Equal values row by row (missing equals missing), whatever the dtypes."""
    if a.equals(b):
        return True
    x, y = a.to_numpy(dtype=object), b.to_numpy(dtype=object)
    na = pd.isna(x) & pd.isna(y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            eq = np.asarray(x == y, dtype=bool)
        except (TypeError, ValueError):  # pragma: no cover - exotic objects
            return False
    return bool((eq | na).all())


def _check_same_data(design, data: pd.DataFrame, spec: IndexSpec) -> None:
    """The design must describe these rows: the same object, or the same index and equal
    values in the spec's item columns and the design's own columns.

    Raises
    ------
    DesignError
        Other length, other index, or a column whose values differ (named, with the first rows).
    """
    dd = design.data
    if dd is data:
        return
    fix = (
        "build the design on the DataFrame you pass (SurveyDesign(data, ...)), or pass the data the design was built on"
    )
    if len(dd) != len(data):
        raise DesignError(
            f"the design was built on other data ({len(dd)} rows) than the data passed ({len(data)} rows); {fix}"
        )
    if not dd.index.equals(data.index):
        pos = np.flatnonzero(dd.index.to_numpy() != data.index.to_numpy())
        raise DesignError(
            f"the design was built on other data: its row index differs from the data's "
            f"(first at position(s) {describe_rows(pos.tolist(), 5)}); {fix}"
        )
    cols = [it.name for it in spec.items]
    for c in (
        getattr(design, "weights_column", None),
        getattr(design, "strata_column", None),
        *(getattr(design, "psu_columns", None) or []),
        getattr(design, "fpc_spec", None),
        *(getattr(design, "replicate_columns", None) or []),
    ):
        if isinstance(c, str):
            cols.append(c)
        elif isinstance(c, (list, tuple)):
            cols.extend(x for x in c if isinstance(x, str))
    for c in dict.fromkeys(cols):
        if c in dd.columns and c in data.columns and not _same_values(dd[c], data[c]):
            a, b = dd[c].to_numpy(dtype=object), data[c].to_numpy(dtype=object)
            diff = ~((a == b) | (pd.isna(a) & pd.isna(b)))
            raise DesignError(
                f"the design was built on other data: column {c!r} differs from the data "
                f"passed at row(s) {describe_rows(data.index[diff].tolist(), 5)}; {fix}"
            )


def _is_text(s: pd.Series) -> bool:
    return s.dtype == object or pd.api.types.is_string_dtype(s)


def _data_hash(data: pd.DataFrame, columns: list) -> str:
    """SHA-256 of the used columns in a canonical form.

    Canonical form: the number of rows, the column names in sorted (NFC) order, then one
    64-bit hash per row of those columns (in that order) and the row index
    (``pd.util.hash_pandas_object(frame, index=True)`` with pandas' fixed default key; text
    NFC-normalised). Independent of the column order in the file, sensitive to every
    value, to the row order and to the index.
    """
    h = hashlib.sha256()
    cols = sorted(set(columns), key=lambda c: _nfc(str(c)))
    h.update(f"rows={len(data)};".encode())
    sub = {}
    for c in cols:
        s = data[c]
        h.update(_nfc(str(c)).encode("utf-8") + b"\x00")
        # pandas hashes text the same in object and string dtypes: NFC on the distinct values only
        if _is_text(s):
            # hashed as a categorical (pandas hashes a Categorical exactly like its values): the
            # distinct texts are hashed, not 1M Python str objects (~70 MB at 1M rows)
            s = nfc_keys(s.astype("category"))
            s = s if isinstance(s.dtype, pd.CategoricalDtype) else s.astype("category")
        sub[_nfc(str(c))] = s
    # hashed column by column (no consolidated copy); a copy of the index object, so that the
    # row numbers a RangeIndex materialises for hashing are freed with it, not cached on ``data``
    frame = pd.DataFrame(sub, index=data.index.copy(), copy=False)
    for start in range(0, len(frame), ROW_BLOCK):  # a row's hash depends on that row only: blocks
        block = frame.iloc[start : start + ROW_BLOCK]  # give the same bytes with one block of temporaries
        h.update(pd.util.hash_pandas_object(block, index=True).to_numpy().tobytes())
    return h.hexdigest()


def _ci(value, se, scale_kind, upper):
    """Interval function on the chosen scale; returns (method, interval callable)."""
    if not (value == value) or not (se == se):
        return "wald", None
    if scale_kind == "logit":
        p = value / upper
        if 0 < p < 1 and se > 0:
            s = se / upper / (p * (1 - p))
            lp = math.log(p / (1 - p))

            def interval(lvl, d, _lp=lp, _s=s):
                q = t_quantile(lvl, d)
                lo, hi = _lp - q * _s, _lp + q * _s
                return (upper / (1 + math.exp(-lo)), upper / (1 + math.exp(-hi)))

            return "logit", interval

        def interval(lvl, d, _v=value, _s=se):
            q = t_quantile(lvl, d)
            return (max(0.0, _v - q * _s), min(upper, _v + q * _s))

        return "wald (clipped; estimate on the boundary)", interval
    if scale_kind == "log":
        if value > 0:

            def interval(lvl, d, _v=value, _s=se):
                q = t_quantile(lvl, d)
                return (_v * math.exp(-q * _s / _v), _v * math.exp(q * _s / _v))

            return "log", interval
        return "wald", None
    return "wald", None


def _delta_cov(V: np.ndarray, Jqt: np.ndarray, D: int, k: int, Q: int, has_by: bool) -> np.ndarray:
    """``G V G'`` for the block Jacobian G of the domains (block-diagonal) and the city (sum).

    ``V`` is the (D k, D k) covariance of the domain totals, ``Jqt`` (U, Q, k) the Jacobians
    of each domain's (and the city's, last) quantities with respect to its totals. Uses the
    block structure of G: O(D^2) work instead of the O(D^3) of the dense product, so that
    hundreds of domains stay fast. Returns the (U Q, U Q) covariance.
    """
    V4 = V.reshape(D, k, D, k)
    Jd = Jqt[:D]
    GV = np.einsum("uqk,ukvl->uqvl", Jd, V4)  # rows of G V for the domains
    Cdd = np.einsum("uqvl,vrl->uqvr", GV, Jd).reshape(D * Q, D * Q)
    if not has_by:
        return Cdd
    Jc = Jqt[-1]
    GVc = np.einsum("qk,ukvl->qvl", Jc, V4)  # row of G V for the city: (Q, D, k)
    cross = np.einsum("uqvl,rl->uqr", GV, Jc).reshape(D * Q, Q)  # domains x city
    cc = np.einsum("qvl,rl->qr", GVc, Jc)
    C = np.empty(((D + 1) * Q, (D + 1) * Q))
    C[: D * Q, : D * Q] = Cdd
    C[: D * Q, D * Q :] = cross
    C[D * Q :, : D * Q] = np.einsum("qvl,vrl->qvr", GVc, Jd).reshape(Q, D * Q)
    C[D * Q :, D * Q :] = cc
    return C


def compute_index(
    data: pd.DataFrame,
    spec: IndexSpec,
    design: SurveyDesign | ReplicateDesign | None = None,
    by: str | Sequence[str] | None = None,
    level: float = 0.95,
    *,
    replicate_variance: str = "rerun",
    ci_scale: str = "auto",
    design_options: Mapping | None = None,
    diagnostics: bool = True,
    seed: int | None = None,
) -> IndexResult:
    """Compute the composite index with its design-based standard error and interval.

    Parameters
    ----------
    data : DataFrame
        Survey microdata, one row per respondent (ideally ``validate_survey(...).data``);
        never modified. Must contain every indicator item of ``spec``.
    spec : IndexSpec
        Items, components, aggregation (preset/formula), design columns, publication
        thresholds and level bands.
    design : SurveyDesign or ReplicateDesign, optional
        Built on ``data`` (same rows in the same order). Default: a
        :class:`SurveyDesign` from the spec's ``[design]`` columns (weights, strata, psu,
        fpc; ``design_options`` such as ``nest=True`` or ``lonely_psu="adjust"`` are
        passed on). A subset (domain) design restricts the index to its domain.
    by : str or list of str, optional
        Domain column(s); ``"commune"`` means the spec's commune column. Every domain is
        estimated on the full design (zero contribution outside it, never dropped).
    level : float, default 0.95
        Confidence level of the intervals.
    replicate_variance : {"rerun", "delta"}, default "rerun"
        For replicate designs: re-run shares -> components -> index on every replicate
        and apply the replicate variance formula ("rerun"), or use the replicate
        covariance of the item shares in the delta method ("delta", as R's
        ``svycontrast`` on a replicate design).
    ci_scale : {"auto", "logit", "log", "identity"}, default "auto"
        Scale of the intervals of the index. "auto": logit for an index bounded in
        [0, 100] (``mean_of_shares``, ``mean_score``, ``geometric``, ``af_gnh``), log for
        ``nef_ratio`` and ``custom`` (positive, unbounded: HI can exceed 100),
        identity when the estimate is not positive. The method used is in
        ``result.ci_scale`` and in each Estimate's ``ci_method``.
    design_options : mapping, optional
        Extra keyword arguments for the default :class:`SurveyDesign`.
    diagnostics : bool, default True
        Compute design effects, Cronbach's alpha and item analysis (they cost a few
        passes over the data).
    seed : int, optional
        Recorded in the provenance (e.g. the seed used to build bootstrap replicates).

    Returns
    -------
    IndexResult

    Raises
    ------
    SpecError
        ``spec`` is not an IndexSpec; an indicator column is missing; AF weights that are
        not simple fractions; ``mean_score`` on text items.
    SchemaError
        An indicator value that is neither one of the item's codes nor a missing code
        (e.g. 7 or 4.5 on a 1-5 scale); the message names the item, the rows and the
        allowed codes. Missing codes (e.g. 8, 9) are mapped to missing.
    DesignError
        The spec's design columns are absent; ``design`` is built on other data (another
        length or index, or other values in an item or design column).
    EstimationError
        The city index is undefined (e.g. ENV share 0 for ``nef_ratio``; a zero component
        for ``geometric`` with ``zero_rule = "error"``, naming the component); a domain
        column not in the data; unknown ``replicate_variance``/``ci_scale``.

    Notes
    -----
    Item shares are available-case (each item over the respondents who answered it);
    row-level components and the Alkire-Foster identification use respondents who
    answered all the items concerned. Variances: Taylor linearisation of the totals with
    the delta method (Lumley 2010, §2.3, 2.6; Särndal et al. 1992, §5.5), or replicate
    weights. Intervals are t-based on the design's (domain's) degrees of freedom; R's
    ``confint()`` default is Normal — use ``est.confint(df=math.inf)`` to compare.
    A domain with df 0 gets a NaN interval and a warning.

    References
    ----------
    Alkire, S. & Foster, J. (2011). Counting and multidimensional poverty measurement.
    *Journal of Public Economics* 95, 476-487.
    Lumley, T. (2010). *Complex Surveys: A Guide to Analysis Using R*. Wiley (domains, delta method).
    """
    _check_arguments(spec, data, replicate_variance, ci_scale, level)
    scale = 100.0 if spec.scale == "percent" else 1.0
    design = _resolve_design(data, spec, design, design_options)
    # ---------------------------------------------------------------- plan the statistics
    _check_item_codes(data, spec)
    plan = _build_plan(data, spec, _Indicators(data, spec), scale)
    in_dom = design.in_domain
    doms = _index_domains(data, spec, by, in_dom, design.weights.to_numpy() == 0)
    # ---------------------------------------------------------------- estimate through the engine
    est = _estimate_index(design, spec, plan, doms, in_dom, replicate_variance)
    # ---------------------------------------------------------------- assemble the result
    kind = ("logit" if spec.preset in BOUNDED_PRESETS else "log") if ci_scale == "auto" else ci_scale
    ctx = _AssemblyContext(
        est=est,
        plan=plan,
        spec=spec,
        level=level,
        kind=kind,
        upper=scale,
        vm_short="replicate" if est.is_rep else "taylor",
        n_city=int(in_dom.sum()),
    )
    overall = ctx.index_estimate(spec.name, est.city, est.city_df, ctx.n_city)
    ci_text = _ci_text(kind, scale, est.city_df, overall)
    components, items_tab = _city_tables(ctx, design)
    by_group = _domain_table(ctx, data, doms) if doms.by_cols is not None else None
    sens = _sensitivity(est, plan, spec, scale)
    af = _af_details(ctx, doms) if spec.preset == "af_gnh" else None
    # ---------------------------------------------------------------- diagnostics and provenance
    diag = _diagnostics(data, spec, plan, design, est, in_dom, ctx.n_city, diagnostics)
    prov = _provenance(data, spec, plan, design, doms, est, seed, ci_text, level)
    band = None
    if spec.levels:
        try:
            band = spec.level_for(overall.estimate)
        except SpecError:
            band = None
    return IndexResult(
        overall=overall,
        components=components,
        items=items_tab,
        by_group=by_group,
        level=band,
        diagnostics=diag,
        sensitivity=sens,
        provenance=prov,
        ci_scale=ci_text,
        variance_method=est.variance_method,
        spec=spec,
        af=af,
    )


# ---------------------------------------------------------------------------
# compute_index, stage by stage
# ---------------------------------------------------------------------------


def _check_arguments(spec, data, replicate_variance, ci_scale, level) -> None:
    """Refuse a bad spec, data or option before any work."""
    if not isinstance(spec, IndexSpec):
        raise SpecError(f"spec must be an IndexSpec (IndexSpec.from_toml(...)), got {type(spec).__name__}")
    if not isinstance(data, pd.DataFrame):
        raise EstimationError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    if replicate_variance not in ("rerun", "delta"):
        raise EstimationError(f"replicate_variance must be 'rerun' or 'delta', got {replicate_variance!r}")
    if ci_scale not in CI_SCALES:
        raise EstimationError(f"ci_scale must be one of {CI_SCALES}, got {ci_scale!r}")
    if not 0 < level < 1:
        raise EstimationError(f"level must be in (0, 1), got {_plain(level)}")


def _resolve_design(data, spec, design, design_options):
    """The caller's design (checked to be built on ``data``) or the spec's default design."""
    if design is None:
        design = _default_design(data, spec, design_options)
    elif not isinstance(design, (SurveyDesign, ReplicateDesign)):
        raise DesignError(f"design must be a SurveyDesign or ReplicateDesign, got {type(design).__name__}")
    _check_same_data(design, data, spec)
    return design


@dataclass
class _Domains:
    """Domain codes of the index: ``dom`` (n,) in 0..D-1 (-1 out), key table, domain columns."""

    by_cols: list | None
    dom: np.ndarray
    D: int
    keys: pd.DataFrame | None


def _index_domains(data, spec, by, in_dom, zero_weight) -> _Domains:
    """Domains of ``by`` (NFC text keys, sorted, missing keys a domain of their own) among rows in scope.

    A domain whose respondents all have a zero weight is left out with the estimators' warning
    (:func:`~happiness_index.survey.variance.warn_dropped_domains`), naming it.
    """
    by_cols = _resolve_by(by, spec, data)
    if not in_dom.any():
        raise EstimationError("no respondent has a positive weight in the design's domain")
    if by_cols is None:
        return _Domains(None, np.where(in_dom, 0, -1).astype(np.int64), 1, None)
    kd = pd.DataFrame({c: nfc_keys(data[c]) if _is_text(data[c]) else data[c] for c in by_cols}, copy=False)
    idx = pd.MultiIndex.from_frame(kd) if len(by_cols) > 1 else pd.Index(kd.iloc[:, 0])
    codes, uniques = pd.factorize(idx, sort=True, use_na_sentinel=False)
    weightless = np.bincount(codes[zero_weight], minlength=len(uniques)) > 0
    codes = np.where(in_dom, codes, -1).astype(np.int64)
    present = np.bincount(codes[codes >= 0], minlength=len(uniques)) > 0
    gone = weightless & ~present  # in the data, every respondent with a zero weight
    if gone.any():
        warn_dropped_domains(_key_table(uniques, by_cols), ~gone, by_cols, [spec.design.weights or "weight"])
    remap = np.full(len(uniques), -1)
    remap[present] = np.arange(present.sum())
    dom = np.where(codes >= 0, remap[np.maximum(codes, 0)], -1)
    keys = _key_table(uniques, by_cols)[present].reset_index(drop=True)
    D = int(present.sum())
    if D == 0:
        raise EstimationError("no respondent with a positive weight is in any domain")
    return _Domains(by_cols, dom, D, keys)


def _key_table(uniques, by_cols) -> pd.DataFrame:
    """One row per distinct domain key (columns ``by_cols``)."""
    if len(by_cols) > 1:
        return pd.DataFrame([tuple(t) for t in uniques], columns=by_cols)
    return pd.DataFrame({by_cols[0]: np.asarray(uniques)})


@dataclass
class _IndexEstimates:
    """Point values and covariances of shares, components and the index (rows: domains, then the city).

    ``q`` (U × Q): shares (p), components (K), index (1) per unit u (domains 0..D-1, city
    last). ``cov_block(u)`` (Q × Q) and ``cov_cross(u)`` (Q × Q, with the city);
    ``dom_vcov()`` (D × D) of the domain indices.
    """

    is_rep: bool
    T: np.ndarray
    Tall: np.ndarray
    S: np.ndarray
    q: np.ndarray
    Jqs: np.ndarray
    g_in: np.ndarray
    counts: np.ndarray
    dfs: np.ndarray
    city_df: float
    D: int
    city: int
    p: int
    K: int
    Q: int
    cov_block: Any = None
    cov_cross: Any = None
    dom_vcov: Any = None
    rep_q: np.ndarray | None = None
    replicate_vcov: Any = None
    variance_method: str = ""
    undefined_reason: Any = None


def _covariance_bytes(D: int, k: int, Q: int) -> int:
    """Peak memory (bytes) of the Taylor joint covariance of ``D`` domains: the engine's (D k)^2
    covariance of the totals (and its working copies), the block products and the (D+1) Q
    covariance of the domain quantities (see :func:`_delta_cov`)."""
    return 8 * (3 * (D * k) ** 2 + D * D * k * Q + 2 * ((D + 1) * Q) ** 2)


def _check_covariance_size(doms, k: int, plan, is_rep: bool) -> None:
    """Refuse, before any allocation, a domain table whose joint covariance would not fit in memory."""
    D = doms.D
    if doms.by_cols is None or is_rep or D < 2:
        return
    Q = len(plan.num) + plan.A.shape[0] + 1
    need, limit = _covariance_bytes(D, k, Q), _covariance_limit()
    if need > limit:
        by = doms.by_cols[0] if len(doms.by_cols) == 1 else doms.by_cols
        raise EstimationError(
            f"by={by!r} has {D:,} domains: the joint covariance of their estimates would need about "
            f"{describe_bytes(need)} of memory (limit {describe_bytes(limit)}, MAX_COVARIANCE_BYTES; it grows with the square of "
            "the number of domains). by= should be an area such as commune or village, not an id; group the "
            "domains, or estimate the ones you need on fewer domains at a time"
        )


def _estimate_index(design, spec, plan, doms, in_dom, replicate_variance) -> _IndexEstimates:
    """Totals through the engine, then shares -> components -> index with their covariances."""
    D, dom = doms.D, doms.dom
    k = plan.k
    _check_covariance_size(doms, k, plan, isinstance(design, ReplicateDesign))
    c = _weight_scale(design.weights.to_numpy()[in_dom], spec.design.weights or "weights")
    columns = plan.columns
    if c != 1.0:  # totals scaled by a power of two: every estimate is a ratio of totals
        n = len(design.weights)
        columns = [np.full(n, c) if col is None else np.asarray(col, dtype=float) * c for col in columns]
    stat = Statistic(plan.col_names, None, np.arange(k), np.full(k, -1), "total", plan.col_names, columns=columns)
    res = design.estimate_statistic(stat, dom, D)
    T = np.asarray(res.theta, dtype=float)  # (D, k)
    has_by = doms.by_cols is not None
    U = D + 1 if has_by else 1
    Tall = np.vstack([T, T.sum(axis=0, keepdims=True)]) if has_by else T
    S = _shares(Tall, plan)  # (U, p)
    q, Jqs, g_in = _jacobian_q_wrt_shares(S, plan)  # q (U, Q), Jqs (U, Q, p)
    is_rep = isinstance(design, ReplicateDesign)
    est = _IndexEstimates(
        is_rep=is_rep,
        T=T,
        Tall=Tall,
        S=S,
        q=q,
        Jqs=Jqs,
        g_in=g_in,
        counts=np.bincount(dom[dom >= 0], minlength=D),
        dfs=np.asarray(res.df, dtype=float),
        city_df=float(design.df),
        D=D,
        city=U - 1,
        p=S.shape[1],
        K=plan.A.shape[0],
        Q=q.shape[1],
    )
    est.undefined_reason = lambda u: _undefined_reason(S, plan, u)
    _check_city_defined(est, spec, plan)
    if is_rep:
        _replicate_covariances(est, design, res, plan, replicate_variance)
    else:
        _taylor_covariances(est, res, plan, has_by)
    return est


def _undefined_reason(S, plan, u) -> str:
    """Why the index of unit ``u`` is undefined, in words (the components or items at fault)."""
    Xu = _lin(S[u : u + 1], plan.B)[0]
    bad_in = [nm for i, nm in enumerate(plan.input_names) if not np.isfinite(Xu[i])]
    if bad_in:
        bad_sh = [
            plan.ratio_names[j]
            for j in range(S.shape[1])
            if not np.isfinite(S[u, j])
            and any(plan.B[i, j] != 0 for i, nm in enumerate(plan.input_names) if nm in bad_in)
        ]
        return f"component(s) {bad_in} undefined: no respondent answered {', '.join(repr(x) for x in bad_sh)}"
    X, _ = _inputs(S[u : u + 1], plan)
    zero = [nm for i, nm in enumerate(plan.input_names) if X[0, i] == 0]
    if zero:
        return f"component(s) {zero} equal 0"
    return "the formula is undefined at these component values"


def _check_city_defined(est: _IndexEstimates, spec, plan) -> None:
    """Geometric index with a zero component: an error for the city, NaN for a domain; an undefined city index: an error."""
    q, city, U = est.q, est.city, est.city + 1
    if spec.preset == "geometric" and plan.floor is None:
        X, _ = _inputs(est.S, plan)
        zero = X[:U] == 0  # (domains and city) x inputs
        if zero[city].any():
            raise EstimationError(
                f"component {plan.input_names[int(np.argmax(zero[city]))]!r} is 0 in the city: the geometric "
                "mean would be 0 whatever the other components are. Declare zero_rule = <positive floor> in "
                "the spec (e.g. 0.5, percent) or use another preset."
            )
        # a domain with a zero component: undefined (never a silent 0), flagged later
        q[np.flatnonzero(zero.any(axis=1)), -1] = np.nan
    if not np.isfinite(q[city, -1]):
        raise EstimationError(
            f"the city index is undefined: {est.undefined_reason(city)}; "
            "components: "
            + ", ".join(f"{nm} = {_plain(v)}" for nm, v in zip(plan.comp_names, q[city, est.p : est.p + est.K]))
        )


def _taylor_covariances(est: _IndexEstimates, res, plan, has_by) -> None:
    """Delta method on the joint Taylor covariance of the totals of every domain."""
    D, Q, city, q = est.D, est.Q, est.city, est.q
    k = plan.k
    V = res.vcov()  # (D k, D k)
    Jst = _jacobian_shares_wrt_totals(est.Tall, est.S, plan)  # (U, p, k)
    Jqt = np.einsum("uqp,upk->uqk", est.Jqs, Jst)  # (U, Q, k)
    Jqt = np.nan_to_num(Jqt, nan=0.0, posinf=0.0, neginf=0.0)
    C = _delta_cov(V, Jqt, D, k, Q, has_by)
    # an undefined quantity (share, component or index) has an undefined variance,
    # never the 0 that the zeroed Jacobian row would give
    undef = ~np.isfinite(q[: city + 1].reshape(-1))
    if undef.any():
        C[undef, :] = np.nan
        C[:, undef] = np.nan
    last = [u * Q + Q - 1 for u in range(D)]
    est.cov_block = lambda u: C[u * Q : (u + 1) * Q, u * Q : (u + 1) * Q]
    est.cov_cross = lambda u: C[u * Q : (u + 1) * Q, city * Q : (city + 1) * Q]
    est.dom_vcov = lambda: C[np.ix_(last, last)]
    est.variance_method = "Taylor linearisation (delta method on the joint covariance of the totals)"


def _replicate_covariances(est: _IndexEstimates, design, res, plan, replicate_variance) -> None:
    """Replicate covariances: the index re-computed on every replicate ("rerun") or the delta method ("delta")."""
    D, Q, p, city, q, S, Jqs = est.D, est.Q, est.p, est.city, est.q, est.S, est.Jqs
    k = plan.k
    reps = np.asarray(res.replicates, dtype=float)
    R = reps.shape[0]
    Tr = reps.reshape(R, D, k)
    if city > 0:
        Tr = np.concatenate([Tr, Tr.sum(axis=1, keepdims=True)], axis=1)
    Sr = _shares(Tr, plan)  # (R, U, p)
    repvar = design.replicate_vcov
    rep_q = None
    if replicate_variance == "rerun":
        Ir = _index_values(Sr, plan)  # (R, U)
        rep_q = np.concatenate([Sr, _lin(Sr, plan.A), Ir[..., None]], axis=2)  # (R, U, Q)
    blocks: dict = {}

    def repvar_defined(Z, full):
        # replicate covariance of the defined quantities only: an undefined share or
        # component (no respondent answered an item in this domain) is NaN in every
        # replicate and would otherwise discard all of them
        ok = np.isfinite(full)
        out = np.full((len(full),) * 2, np.nan)
        Zo = Z[:, ok]
        if np.isfinite(Zo).all(axis=1).sum() > 1:
            out[np.ix_(ok, ok)] = repvar(Zo, full[ok])
        return out

    def pair(u):
        if u in blocks:
            return blocks[u]
        cols = [u] if u == city else [u, city]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if rep_q is not None:
                Vp = repvar_defined(
                    np.concatenate([rep_q[:, c, :] for c in cols], axis=1), np.concatenate([q[c] for c in cols])
                )
            else:
                Vs = repvar_defined(
                    np.concatenate([Sr[:, c, :] for c in cols], axis=1), np.concatenate([S[c] for c in cols])
                )
                Jb = np.zeros((len(cols) * Q, len(cols) * p))
                for i, c in enumerate(cols):
                    Jb[i * Q : (i + 1) * Q, i * p : (i + 1) * p] = np.nan_to_num(Jqs[c])
                Vp = Jb @ np.nan_to_num(Vs) @ Jb.T
        undef = ~np.isfinite(np.concatenate([q[c] for c in cols]))
        Vp[undef, :] = np.nan
        Vp[:, undef] = np.nan
        blocks[u] = Vp
        return Vp

    def dom_vcov():
        need, limit = 8 * (2 * (D * p) ** 2 + D * D * p), _covariance_limit()
        if need > limit:
            raise EstimationError(
                f"the covariance of {D:,} domain indices would need about {describe_bytes(need)} of memory (limit "
                f"{describe_bytes(limit)}): compare fewer domains (by= an area such as commune, not an id)"
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if rep_q is not None:
                return repvar(rep_q[:, :D, -1], q[:D, -1])
            Vs = repvar(Sr[:, :D, :].reshape(Sr.shape[0], D * p), S[:D].reshape(-1))
        Jb = np.zeros((D, D * p))
        for u in range(D):
            Jb[u, u * p : (u + 1) * p] = np.nan_to_num(Jqs[u, -1])
        return Jb @ Vs @ Jb.T

    est.cov_block = lambda u: pair(u)[:Q, :Q]
    est.cov_cross = lambda u: pair(u)[:Q, Q:]
    est.dom_vcov = dom_vcov
    est.rep_q = rep_q
    est.replicate_vcov = repvar
    est.variance_method = f"replicate weights ({design.method}, {design.n_replicates} replicates; " + (
        "index re-computed on every replicate)"
        if replicate_variance == "rerun"
        else "delta method with the replicate covariance of the item shares)"
    )


@dataclass
class _AssemblyContext:
    """What the result-building stages share: the estimates and how to print intervals."""

    est: _IndexEstimates
    plan: _Plan
    spec: IndexSpec
    level: float
    kind: str  # interval scale of the index: "logit" | "log" | "identity"
    upper: float  # the spec's scale (100 for percent)
    vm_short: str  # "taylor" | "replicate"
    n_city: int

    def index_estimate(self, name, u, df_u, n_u) -> Estimate:
        """The index of unit ``u`` as an Estimate on the context's interval scale."""
        v = float(self.est.q[u, -1])
        var = float(self.est.cov_block(u)[-1, -1])
        se = math.sqrt(var) if var >= 0 else float("nan")
        method, interval = _ci(v, se, self.kind, self.upper)
        with warnings.catch_warnings():
            if u != self.est.city:
                warnings.simplefilter("ignore")
            return make_estimate(
                name,
                v,
                var if var == var else float("nan"),
                df_u,
                level=self.level,
                ci_method=method,
                n=n_u,
                statistic="index",
                variance_method=self.vm_short,
                interval=interval,
            )


def _ci_text(kind, upper, city_df, overall) -> str:
    """The interval scale of the index in words (provenance and reports)."""
    text = {
        "logit": f"logit scale on [0, {upper:g}] (the index is bounded), back-transformed",
        "log": "log scale (the index is positive and unbounded above), back-transformed",
        "identity": "identity (Wald) scale",
    }[kind] + f"; t quantile on {city_df:g} design degrees of freedom"
    if overall.ci_method.startswith("wald") and kind != "identity":
        text = f"{overall.ci_method}: {text}"
    return text


def _city_tables(ctx: _AssemblyContext, design) -> tuple[EstimateTable, EstimateTable]:
    """The city's components (logit intervals) and item shares (Wald), each with its joint covariance."""
    est, plan, spec, level = ctx.est, ctx.plan, ctx.spec, ctx.level
    q, city, p, K, rep_q = est.q, est.city, est.p, est.K, est.rep_q
    Vc = est.cov_block(city)
    comp_est = []
    for i, c in enumerate(spec.components):
        j = p + i
        v, var = float(q[city, j]), float(Vc[j, j])
        se = math.sqrt(var) if var >= 0 else float("nan")
        method, interval = _ci(v, se, "logit", ctx.upper)
        comp_est.append(
            make_estimate(
                c.name,
                v,
                var,
                est.city_df,
                level=level,
                ci_method=method,
                n=ctx.n_city,
                statistic="component",
                variance_method=ctx.vm_short,
                interval=interval,
            )
        )
    comp_keys = pd.DataFrame(
        {
            "component": plan.comp_names,
            "label_vi": [c.labels.vi for c in spec.components],
            "label_en": [c.labels.en for c in spec.components],
        }
    )
    comp_reps = rep_q[:, city, p : p + K] if rep_q is not None else None
    components = EstimateTable(
        comp_est,
        comp_keys,
        plan.comp_names,
        Vc[p : p + K, p : p + K].copy(),
        df=est.city_df,
        level=level,
        variance_method=ctx.vm_short,
        replicates=comp_reps,
        replicate_variance=est.replicate_vcov if comp_reps is not None else None,
    )
    item_idx = plan.item_index
    item_names = [plan.ratio_names[j] for j in item_idx]
    item_est = [
        make_estimate(
            plan.ratio_names[j],
            float(q[city, j]),
            float(Vc[j, j]),
            est.city_df,
            level=level,
            ci_method="wald",
            n=ctx.n_city,
            statistic="proportion",
            variance_method=ctx.vm_short,
        )
        for j in item_idx
    ]
    items_tab = EstimateTable(
        item_est,
        pd.DataFrame({"item": item_names}),
        item_names,
        Vc[np.ix_(item_idx, item_idx)].copy(),
        df=est.city_df,
        level=level,
        variance_method=ctx.vm_short,
        replicates=rep_q[:, city, item_idx] if rep_q is not None else None,
        replicate_variance=est.replicate_vcov if rep_q is not None else None,
    )
    return components, items_tab


def _domain_table(ctx: _AssemblyContext, data, doms: _Domains) -> DomainIndexTable:
    """One row per domain: index, difference from the city, and the publication rule's verdict."""
    est, spec, level = ctx.est, ctx.spec, ctx.level
    q, city, D, p, K = est.q, est.city, doms.D, est.p, est.K
    by_cols, keys, dom = doms.by_cols, doms.keys, doms.dom
    name_col = spec.design.commune_name
    if name_col and name_col in data.columns and by_cols == [spec.design.commune] and name_col not in keys.columns:
        first = pd.Series(data[name_col].to_numpy()[dom >= 0]).groupby(dom[dom >= 0]).first()
        keys = keys.copy()
        keys[name_col] = [_nfc(x) for x in first.reindex(range(D)).to_numpy()]
    labels = [", ".join(str(x) for x in keys.loc[u, by_cols].tolist()) for u in range(D)]
    rule = spec.publication.effective(spec.scale)
    Vcity = est.cov_block(city)[-1, -1]
    ests, diffs, pub, reasons, reasons_en, reasons_vi = [], [], [], [], [], []
    for u in range(D):
        n_u, df_u = int(est.counts[u]), float(est.dfs[u])
        e = ctx.index_estimate(labels[u], u, df_u, n_u)
        ests.append(e)
        vdiff = float(est.cov_block(u)[-1, -1] + Vcity - 2 * est.cov_cross(u)[-1, -1])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            diffs.append(
                make_estimate(
                    f"{labels[u]} - city",
                    float(q[u, -1] - q[city, -1]),
                    max(vdiff, 0.0) if vdiff == vdiff else float("nan"),
                    df_u,
                    level=level,
                    statistic="difference",
                    variance_method=ctx.vm_short,
                )
            )
        en, vi = _publication_reasons(
            e,
            n_u,
            df_u,
            rule["min_n"],
            rule["max_cv"],
            rule["max_ci_halfwidth"],
            rule["min_df"],
            est.undefined_reason(u) if not math.isfinite(e.estimate) else "",
        )
        pub.append(not en)
        reasons_en.append("; ".join(en))
        reasons_vi.append("; ".join(vi))
        reasons.append("; ".join(f"{a} / {b}" for a, b in zip(en, vi)))
    undef = [u for u, e in enumerate(ests) if not math.isfinite(e.estimate)]
    if undef:
        named = "; ".join(f"{labels[u]}: {est.undefined_reason(u)}" for u in undef[:5])
        more = f"; and {len(undef) - 5} more" if len(undef) > 5 else ""
        warnings.warn(
            f"the index is undefined in {len(undef)} domain(s) ({named}{more}); they are "
            "reported as not publishable (see by_group.reasons)",
            HappinessIndexWarning,
            stacklevel=3,
        )
    return DomainIndexTable(
        ests,
        keys,
        labels,
        est.dom_vcov,
        df=float(np.min(est.dfs)),
        level=level,
        variance_method=ctx.vm_short,
        publishable=pub,
        reasons=reasons,
        differences=diffs,
        component_estimates=pd.DataFrame(q[:D, p : p + K], columns=ctx.plan.comp_names),
        reasons_en=reasons_en,
        reasons_vi=reasons_vi,
        publication_rule=rule,
    )


def _sensitivity(est: _IndexEstimates, plan, spec, scale) -> pd.DataFrame:
    """Per formula input: value, partial derivative and elasticity of the city index, with a note."""
    S, q, city = est.S, est.q, est.city
    X, _ = _inputs(S[city : city + 1], plan)
    xval = X[0]
    gi = est.g_in[city]
    if spec.preset == "af_gnh":
        Hn, An = float(S[city, plan.extra["H_n"]]), float(S[city, plan.extra["A_n"]])
        sens = pd.DataFrame({"value": [Hn, An], "partial_derivative": [-scale * An, -scale * Hn]}, index=["H_n", "A_n"])
        sens["elasticity"] = sens["partial_derivative"] * sens["value"] / q[city, -1]
        sens.attrs["note"] = {
            "en": "GNH = 1 − H_n·A_n: the index rises when fewer people are not-yet-happy (H_n) or when "
            "they lack fewer indicators (A_n); it lies in [0, 100].",
            "vi": "GNH = 1 − H_n·A_n: chỉ số tăng khi tỷ lệ người chưa hạnh phúc (H_n) giảm hoặc khi họ "
            "thiếu hụt ít chỉ báo hơn (A_n); chỉ số nằm trong [0, 100].",
        }
        return sens
    with np.errstate(divide="ignore", invalid="ignore"):
        el = gi * xval / q[city, -1]
    sens = pd.DataFrame({"value": xval, "partial_derivative": gi, "elasticity": el}, index=plan.input_names)
    if spec.preset == "nef_ratio":
        sens.attrs["note"] = dict(_NEF_NOTE)
    else:
        neg = [nm for nm, d in zip(plan.input_names, gi) if d < 0]
        sens.attrs["note"] = {
            "en": f"Index = {plan.formula}. "
            + (f"It FALLS when {', '.join(neg)} rise(s)." if neg else "It rises with every component."),
            "vi": f"Chỉ số = {plan.formula}. "
            + (f"Chỉ số GIẢM khi {', '.join(neg)} tăng." if neg else "Chỉ số tăng theo mọi thành phần."),
        }
    return sens


def _af_details(ctx: _AssemblyContext, doms: _Domains) -> dict:
    """Alkire-Foster details: H_n, A_n, M0 and the decompositions by indicator, domain and group."""
    est, plan, spec = ctx.est, ctx.plan, ctx.spec
    q, S, Tall, city, D = est.q, est.S, est.Tall, est.city, doms.D
    Vc = est.cov_block(city)
    ex = plan.extra

    def share_est(name, j):
        var = float(Vc[j, j])
        return make_estimate(
            name,
            float(q[city, j]),
            var if var == var else float("nan"),
            est.city_df,
            level=ctx.level,
            statistic="ratio",
            variance_method=ctx.vm_short,
            n=ctx.n_city,
        )

    m0 = float(S[city, ex["M0"]])
    contrib = []
    for nm, w in zip(ex["af_items"], ex["af_weights"]):
        h = float(S[city, ex["censored"][nm]])
        contrib.append(
            {
                "indicator": nm,
                "weight": w,
                "censored_headcount": h,
                "contribution_pct": 100 * w * h / m0 if m0 > 0 else float("nan"),
            }
        )
    by_ind = pd.DataFrame(contrib)
    item_to_comp = {}
    for c in spec.components:
        for it in c.items:
            item_to_comp.setdefault(it, c.name)
    by_ind["domain"] = [item_to_comp.get(nm, "") for nm in by_ind["indicator"]]
    by_domain = by_ind.groupby("domain", sort=False)["contribution_pct"].sum().reset_index()
    af = {
        "H_n": share_est("H_n", ex["H_n"]),
        "A_n": share_est("A_n", ex["A_n"]),
        "M0": share_est("M0", ex["M0"]),
        "threshold": spec.af.threshold,
        "n_on_threshold": ex["n_on_threshold"],
        "decomposition_by_indicator": by_ind,
        "decomposition_by_domain": by_domain,
    }
    if doms.by_cols is not None:
        i_c = plan.col_names.index("af:censored_insufficiency")
        i_all = plan.col_names.index("af:complete")
        tot_c = float(Tall[city, i_c])
        grp = doms.keys.copy()
        grp["M0"] = S[:D, ex["M0"]]
        grp["population_share"] = Tall[:D, i_all] / Tall[city, i_all]
        grp["contribution_pct"] = 100 * Tall[:D, i_c] / tot_c if tot_c > 0 else np.nan
        af["decomposition_by_group"] = grp
    return af


def _weight_scale(w: np.ndarray, weights_name) -> float:
    """A power of two ``c`` such that ``c * w`` is of moderate size (1 when it already is).

    The index only uses ratios of weighted totals, so multiplying the totals by ``c`` changes
    no estimate, while it keeps their squares (in the variances) inside the float range: with
    weights of 1e-170 the squares underflow to 0 and a standard error of exactly 0 would be
    printed. Powers of two scale exactly. Subnormal weights (below 2.2e-308), which a float
    cannot even hold to 3 significant digits, are refused.
    """
    a = np.abs(np.asarray(w, dtype=float))
    pos = a[a > 0]
    if pos.size == 0:
        return 1.0
    lo, hi = float(pos.min()), float(pos.max())
    if lo < np.finfo(float).tiny:
        raise DesignError(
            f"weights in {weights_name!r} go down to {lo:.3g}, below the smallest normal float (2.2e-308): "
            "they cannot be held accurately. Rescale the weights (e.g. divide them by their mean) and run again"
        )
    if 2.0**-400 <= hi <= 2.0**400:
        return 1.0
    return math.ldexp(1.0, -math.frexp(hi)[1])


def _diagnostics(data, spec, plan, design, est: _IndexEstimates, in_dom, n_city, full) -> dict:
    """Sample sizes, Kish's effective n, item nonresponse; with ``full`` also design effects and reliability."""
    diag: dict = {}
    wd = np.where(in_dom, design.weights.to_numpy(), 0.0)
    sw = float(wd.sum())
    diag["n"] = int(len(data))
    diag["n_domain"] = n_city
    diag["sum_weights"] = sw
    diag["kish_effective_n"] = kish_effective_n(wd)
    nr = []
    for j in plan.item_index:
        it = plan.ratio_names[j]
        miss = ~np.asarray(plan.columns[plan.den[j]], dtype=bool) & in_dom  # not answered
        nr.append(
            {
                "item": it,
                "n_missing": int(miss.sum()),
                "rate": float(miss.sum() / max(n_city, 1)),
                "weighted_rate": float(wd[miss].sum() / sw) if sw > 0 else float("nan"),
            }
        )
    diag["item_nonresponse"] = pd.DataFrame(nr)
    if full:
        city = est.city
        diag["deff"] = _design_effects(plan, est.S[city], est.cov_block(city), est.g_in[city], wd, in_dom)
        alphas, analyses = {}, []
        w_dom = np.where(in_dom, wd, 0.0)  # respondents outside the domain carry no weight
        for c in spec.components:
            alpha, ia = reliability_from_moments(_reliability_moments(data, spec, plan, c.items, w_dom), list(c.items))
            alphas[c.name] = alpha if len(c.items) > 1 else float("nan")
            ia.insert(0, "component", c.name)
            analyses.append(ia)
        diag["cronbach_alpha"] = alphas
        diag["item_analysis"] = pd.concat(analyses, ignore_index=True)
    return diag


def _provenance(data, spec, plan, design, doms: _Domains, est: _IndexEstimates, seed, ci_text, level) -> dict:
    """Spec and data hashes, library version, variance method and options: enough to reproduce the run."""
    from .. import __version__

    used_cols = [it for c in spec.components for it in c.items]
    if spec.preset == "af_gnh":
        used_cols += plan.extra["af_items"]
    for col in (
        spec.design.weights,
        spec.design.strata,
        spec.design.psu,
        spec.design.fpc,
        getattr(design, "weights_column", None),
        *(doms.by_cols or []),
    ):
        if isinstance(col, str) and col in data.columns:
            used_cols.append(col)
    for col in getattr(design, "psu_columns", []) or []:
        if col in data.columns:
            used_cols.append(col)
    return {
        "spec_name": spec.name,
        "spec_version": spec.version,
        "spec_hash": spec.content_hash(),
        "data_hash": _data_hash(data, used_cols),
        "data_hash_columns": sorted(set(used_cols)),
        "n_rows": int(len(data)),
        "library_version": __version__,
        "variance_method": est.variance_method,
        "replicates": int(design.n_replicates) if est.is_rep else None,
        "seed": seed if seed is not None else getattr(design, "seed", None),
        "ci_scale": ci_text,
        "level": level,
    }


def _reliability_scores(data, spec, plan, items, rows: slice) -> np.ndarray:
    """Item scores of a block of rows for Cronbach's alpha: numeric codes of ordered items, else
    the 0/1 indicator; NaN where the item is missing. Shape (rows, len(items))."""
    n_rows = len(range(*rows.indices(len(data))))
    out = np.empty((n_rows, len(items)))
    for j, nm in enumerate(items):
        it = spec.item(nm)
        if it.ordered and it.numeric:
            v = out[:, j]
            v[:] = pd.to_numeric(data[nm].iloc[rows], errors="coerce").astype("float64").to_numpy()
            if it.missing_codes:
                v[np.isin(v, np.asarray(it.missing_codes, dtype=float))] = np.nan
        else:
            num, den = plan.indicator_columns(nm)
            out[:, j] = num[rows]
            out[~np.asarray(den[rows], dtype=bool), j] = np.nan
    return out


def _reliability_moments(data, spec, plan, items, w_dom) -> WeightedMoments:
    """Weighted moments of the item scores over the respondents who answered every item,
    accumulated a block of rows at a time (no n x k table of scores)."""
    mom = WeightedMoments(len(items))
    for start in range(0, len(data), ROW_BLOCK):
        rows = slice(start, start + ROW_BLOCK)
        sc = _reliability_scores(data, spec, plan, items, rows)
        incomplete = np.isnan(sc).any(axis=1)
        sc[incomplete] = 0.0
        mom.add(sc, np.where(incomplete, 0.0, w_dom[rows]))
    return mom


def _design_effects(plan: _Plan, s, Vc, g, wd, in_dom) -> dict:
    """deff = design variance / SRS-without-replacement variance (R's svymean deff)
    for every component and the index, from the linearised respondent scores."""
    sw = wd.sum()
    p = len(plan.num)
    K = plan.A.shape[0]
    # z for each share: (y - s r) * sw / t_den (mean scale), combined into the component and
    # index scores Z = z M with M = [A' | g B]; accumulated a block of rows at a time
    M = np.column_stack([plan.A.T, g @ plan.B])  # (p, K + 1)
    tden = np.array([float(np.dot(wd, plan.columns[plan.den[j]])) for j in range(p)])
    used = (tden != 0) & np.isfinite(s) & M.any(axis=1)  # an undefined share contributes 0
    scale = np.where(used, sw / np.where(used, tden, 1.0), 0.0)
    s_used = np.where(used, s, 0.0)
    w_dom = np.where(in_dom, wd, 0.0)  # respondents outside the domain carry no weight
    mom = WeightedMoments(K + 1)
    for start in range(0, len(wd), ROW_BLOCK):
        rows = slice(start, start + ROW_BLOCK)
        Zb = np.zeros((len(w_dom[rows]), K + 1))
        for j in np.flatnonzero(used):
            zj = (plan.columns[plan.num[j]][rows] - s_used[j] * plan.columns[plan.den[j]][rows]) * scale[j]
            Zb += zj[:, None] * M[j]
        mom.add(Zb, w_dom[rows])
    vsrs = srs_variance_of_moments(mom.n, mom.sum_w, mom.m2.diagonal())
    var = np.diagonal(Vc)[p : p + K + 1]
    names = [*plan.comp_names, "index"]
    return {nm: float(var[i] / vsrs[i]) if vsrs[i] > 0 else float("nan") for i, nm in enumerate(names)}

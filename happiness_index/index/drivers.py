"""Drivers of happiness: which conditions go with being satisfied with life, city-wide and by group.

:func:`drivers` fits a design-based logistic model (:func:`~happiness_index.svyglm`,
quasibinomial) of an outcome built from the index specification on

* every indicator item outside the outcome (satisfied = 1, not satisfied = 0), and
* household characteristics (text columns such as sex and age group, treatment coded),

and reports each one's **average marginal effect** (AME) on the probability of the outcome,
in percentage points, with a design-based interval (delta method through the variance engine:
strata, PSUs, fpc, calibration, or replicate weights). The default outcome is "satisfied with
life": satisfied on at least half of the items of the life-satisfaction component (the
component named ``ls``, else the first one).

The AMEs are **associations** within the model (other listed conditions held as observed),
never causal effects: a household satisfied with public services may differ in many other
ways. The sentence builders say so in both languages.

References
----------
Graubard, B. I. & Korn, E. L. (1999). Predictive margins with survey data. *Biometrics* 55, 652–659.
Lumley, T. & Scott, A. (2017). Fitting regression models to survey data. *Statistical Science* 32, 265–278.
"""

from __future__ import annotations

import keyword
import math
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import EstimationError, HappinessIndexWarning, ModelError, SpecError
from ..questionnaire.spec import IndexSpec, bundled_spec_path
from ..survey.design import SurveyDesign
from ..survey.margins import average_marginal_effects
from ..survey.regression import svyglm

__all__ = ["DriversResult", "DriversWarning", "drivers", "format_number"]

COLUMNS = ["group", "term", "label_en", "label_vi", "ame_pp", "se_pp", "ci_low_pp", "ci_high_pp", "p", "n"]
OUTCOME = "hi_outcome"


class DriversWarning(HappinessIndexWarning):
    """A group of communes was left out of the drivers analysis (too few respondents, separation, ...)."""


def format_number(x: float, lang: str = "en", digits: int = 1) -> str:
    """A number for text: ``12.3`` in English, ``12,3`` in Vietnamese (thousands ``3.400``)."""
    if not math.isfinite(x):
        return "–"
    s = f"{x:,.{digits}f}"
    if lang == "vi":
        s = s.replace(",", "\u0000").replace(".", ",").replace("\u0000", ".")
    return s.replace("-", "−")


@dataclass
class DriversResult:
    """Average marginal effects of conditions on the outcome (result of :func:`drivers`).

    Attributes
    ----------
    frame : pandas.DataFrame
        Columns ``group, term, label_en, label_vi, ame_pp, se_pp, ci_low_pp, ci_high_pp, p, n``
        (``group`` is ``"city"`` or a group of communes; ``ame_pp`` in percentage points).
    outcome_en, outcome_vi : str
        The outcome in plain words ("satisfied with life ...").
    formula : str
        The model fitted in every group, with the real column names (for display only:
        the fit itself uses generated aliases, see ``aliases``).
    level : float
    fits : dict
        The :class:`~happiness_index.survey.regression.SvyGLM` of each group.
    skipped : dict
        Groups left out, with the reason.
    n_missing : dict
        Respondents left out of each group's fit for a missing answer.
    outcome_definition_en, outcome_definition_vi : str
        How the outcome is built from the answers.
    aliases : dict
        Name in the fitted models -> real name of each model variable. A plain ASCII name
        (``env_services``, ``sex``) is its own alias; any other name (spaces, Vietnamese,
        brackets, quotes, backticks) is fitted as a generated alias (``hi_item_0``,
        ``hi_char_0``, ...), so that no text from the data or the spec beyond a bare column
        name ever enters a formula (formulaic evaluates formulas as Python code). The models
        in ``fits`` use these names; ``frame``, the sentences and ``formula`` the real ones.
    """

    frame: pd.DataFrame
    outcome_en: str
    outcome_vi: str
    formula: str
    level: float = 0.95
    fits: dict = field(default_factory=dict, repr=False)
    skipped: dict = field(default_factory=dict)
    n_missing: dict = field(default_factory=dict)
    outcome_definition_en: str = ""
    outcome_definition_vi: str = ""
    aliases: dict = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        """The AME table (a copy), columns as in SECTIONS.md."""
        return self.frame.copy()

    def sentence(self, row, lang: str = "en") -> str:
        """One plain-words sentence for a row of :meth:`to_frame` (an association, never a cause)."""
        r = row if isinstance(row, Mapping) else row._asdict() if hasattr(row, "_asdict") else dict(row)
        pct = f"{100 * self.level:g}%"
        est, lo, hi = (format_number(r[k], lang) for k in ("ame_pp", "ci_low_pp", "ci_high_pp"))
        size = format_number(abs(r["ame_pp"]), lang)
        clear = r["ci_low_pp"] > 0 or r["ci_high_pp"] < 0
        if lang == "vi":
            who = _subject_vi(r["label_vi"])
            if not clear:
                return (
                    f"{who}: chưa thấy khác biệt rõ về khả năng {self.outcome_vi} ({est} điểm phần trăm; "
                    f"khoảng tin cậy {pct}: {lo} đến {hi}). Đây là mối liên hệ, không phải quan hệ nhân quả."
                )
            more = "cao hơn" if r["ame_pp"] > 0 else "thấp hơn"
            return (
                f"{who} có khả năng {self.outcome_vi} {more} {size} điểm phần trăm (khoảng tin cậy {pct}: "
                f"{lo} đến {hi}). Đây là mối liên hệ, không phải quan hệ nhân quả."
            )
        who = _subject_en(r["label_en"])
        if not clear:
            return (
                f"{who} show no clear difference in the likelihood of being {self.outcome_en} ({est} points; "
                f"{pct} interval {lo} to {hi}). This is an association, not a cause."
            )
        more = "more" if r["ame_pp"] > 0 else "less"
        return (
            f"{who} are {size} percentage points {more} likely to be {self.outcome_en} ({pct} interval {lo} to "
            f"{hi} points). This is an association, not a cause."
        )

    def sentences(self, lang: str = "en", group: str = "city") -> list[str]:
        """Sentences for every term of one group, largest effects first."""
        f = self.frame[self.frame["group"] == group]
        f = f.reindex(f["ame_pp"].abs().sort_values(ascending=False).index)
        return [self.sentence(r, lang) for _, r in f.iterrows()]

    def __str__(self) -> str:
        lines = [
            f"Drivers of being {self.outcome_en} (average marginal effects, percentage points)",
            f"Outcome: {self.outcome_definition_en}",
            f"Model: {self.formula}",
        ]
        for g, f in self.frame.groupby("group", sort=False):
            miss = self.n_missing.get(g, 0)
            lines.append(
                f"\n[{g}] n = {int(f['n'].iloc[0]):,}" + (f" ({miss:,} left out for missing answers)" if miss else "")
            )
            for r in f.itertuples():
                lines.append(
                    f"  {r.label_en:60.60s} {r.ame_pp:7.1f}  ({r.ci_low_pp:6.1f} to {r.ci_high_pp:6.1f})  p={r.p:.3g}"
                )
        for g, why in self.skipped.items():
            lines.append(f"\n[{g}] not estimated: {why}")
        return "\n".join(lines)


def _subject_en(label: str) -> str:
    low = label[0].lower() + label[1:] if label else label
    for prefix in ("satisfaction with ", "rating of "):
        if low.startswith(prefix):
            return f"Households satisfied with {low[len(prefix) :]}"
    return f"Households with {label}"


def _subject_vi(label: str) -> str:
    low = label[0].lower() + label[1:] if label else label
    if low.startswith("hài lòng"):
        return f"Hộ gia đình {low}"
    return f"Hộ gia đình có {label}"


def _spec(spec) -> IndexSpec:
    if isinstance(spec, IndexSpec):
        return spec
    if isinstance(spec, str):
        return IndexSpec.from_toml(bundled_spec_path(spec))
    raise SpecError(f"spec must be an IndexSpec or the name of a bundled spec, got {type(spec).__name__}")


def _outcome_items(spec: IndexSpec, outcome: str | None):
    if outcome is None:
        names = [c.name for c in spec.components]
        comp = spec.component("ls") if "ls" in names else spec.components[0]
    else:
        comp = spec.component(outcome)
    items = [i for i in comp.items]
    return comp, items


def _characteristics(data: pd.DataFrame, spec: IndexSpec, chars) -> list:
    if chars is not None:
        chars = [chars] if isinstance(chars, str) else list(chars)
        missing = [c for c in chars if c not in data.columns]
        if missing:
            raise EstimationError(f"characteristics {missing} are not columns of the data")
        return chars
    dc = spec.design
    skip = {dc.id, dc.weights, dc.strata, dc.psu, dc.fpc, dc.commune, dc.commune_name, dc.village} | {
        i.name for i in spec.items
    }
    out = []
    for c in data.columns:
        s = data[c]
        coded = pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype)
        if c in skip or (coded and _value_labels(data, c) is None):
            continue  # numbers are not categories, unless the file labels their codes (SPSS, Stata)
        k = s.nunique(dropna=True)
        if 2 <= k <= 8:
            out.append(c)
    return out


def _value_labels(data: pd.DataFrame, column) -> dict | None:
    """The code -> label map the file gave a numeric column (read_survey: SPSS/Stata value labels)."""
    labels = (data.attrs.get("value_labels") or {}).get(column)
    if not isinstance(labels, Mapping) or not labels:
        return None
    try:
        return {float(k): str(v) for k, v in labels.items()}
    except (TypeError, ValueError):
        return None


def _as_categories(data: pd.DataFrame, column) -> pd.Series:
    """A characteristic as the model sees it: its labels for labelled codes (1 -> 'Nam'), else as is."""
    s = data[column]
    labels = _value_labels(data, column)
    if labels is None or not pd.api.types.is_numeric_dtype(s.dtype):
        return s
    codes = pd.to_numeric(s, errors="coerce").astype("float64")
    # one label per distinct code (an unlabelled code shows as its number): no loop over respondents
    names = {v: labels.get(v, f"{v:g}") for v in pd.unique(codes.dropna())}
    return codes.map(names).astype(object)


# A model variable keeps its own name only when that name is a plain ASCII Python name (a bare
# name is a pure look-up of a column of the model frame, which holds nothing else); every other
# name is replaced by a generated alias. Names formulaic or numpy provide are aliased too.
_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
_RESERVED = {OUTCOME, "C", "I", "Q", "np", "numpy", "center", "scale", "standardize", "poly", "bs", "log", "exp"}


def _plain(name) -> bool:
    return (
        isinstance(name, str)
        and _PLAIN.fullmatch(name) is not None
        and not keyword.iskeyword(name)
        and name not in _RESERVED
        and not name.startswith("hi_")
    )


def _aliases(driver_items: list, chars: list) -> dict:
    """Model-variable names (name in the formula -> real name). A name from the data or the spec
    enters the formula only when it is a plain ASCII name (:data:`_PLAIN`); any other one
    (spaces, Vietnamese, brackets, quotes, backticks, ...) is replaced by a generated alias
    (``hi_item_0``, ``hi_char_0``), so formulaic, which evaluates formulas as Python code, never
    sees text from the data beyond a bare column look-up."""
    out = {}
    for prefix, names in (("hi_item_", driver_items), ("hi_char_", chars)):
        for j, name in enumerate(names):
            out[name if _plain(name) else f"{prefix}{j}"] = name
    return out


def _model_frame(data, spec, out_items, aliases: dict, driver_items: list) -> pd.DataFrame:
    ind = spec.satisfied_indicators(data)
    share = ind[out_items].mean(axis=1, skipna=False)
    cols = {OUTCOME: (share >= 0.5).astype(float).where(share.notna())}
    items = set(driver_items)
    for alias, name in aliases.items():
        cols[alias] = ind[name] if name in items else _as_categories(data, name)
    frame = pd.DataFrame(cols, index=data.index)
    titles = data.attrs.get("column_labels") or {}
    frame.attrs["titles"] = {n: str(titles[n]) for n in aliases.values() if n not in items and titles.get(n)}
    return frame


_ALIAS = re.compile(r"\bhi_(?:item|char)_\d+\b")


def _real_names(text: str, aliases: dict) -> str:
    """``text`` (a term or a message of the fit) with every generated alias replaced by its real name."""
    return _ALIAS.sub(lambda m: str(aliases.get(m.group(0), m.group(0))), text)


def _real_term(term: str, alias: str, real: str) -> str:
    return real + term[len(alias) :] if term.startswith(alias) else term


def _model_formula(aliases: dict, driver_items: list, *, display: bool = False) -> str:
    """The model: with the formula names (fitted) or the real names (``display``, never evaluated)."""
    items = set(driver_items)
    terms = []
    for alias, name in aliases.items():
        shown = _quoted(name) if display else alias
        terms.append(shown if name in items else f"C({shown})")
    return f"{OUTCOME} ~ " + " + ".join(terms)


def _labels(spec: IndexSpec, term: str, variable: str, contrast: str, titles: Mapping) -> tuple[str, str]:
    if term == variable:
        it = spec.item(variable)
        return it.labels.en or variable, it.labels.vi or variable
    level, ref = contrast.split(" vs ", 1)
    name = titles.get(variable, variable)  # the file's variable label when it has one ('Giới tính')
    return f"{name} = {level} (vs {ref})", f"{name} = {level} (so với {ref})"


def _quoted(name: str) -> str:
    """A column name as shown in the displayed formula: as it is when it is a Python name, else in
    backticks (Vietnamese names with spaces, ``Đánh giá tuổi thọ``, or a leading digit). Display
    only: the fitted formula uses aliases (:func:`_aliases`)."""
    return name if name.isidentifier() and not keyword.iskeyword(name) else f"`{name}`"


def _fit_group(formula, design, frame, mask, spec, aliases, level):
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fit = svyglm(formula, design, family="quasibinomial", subset=mask, data=frame)
        ame = average_marginal_effects(fit, list(aliases), level=level)
    except ModelError as exc:  # its message names aliases: show the real names
        raise ModelError(_real_names(str(exc), aliases)) from None
    rows = []
    for r in ame.itertuples():
        variable = aliases[r.variable]
        term = _real_term(r.term, r.variable, variable)
        en, vi = _labels(spec, term, variable, r.contrast, frame.attrs.get("titles", {}))
        rows.append(
            {
                "term": term,
                "label_en": en,
                "label_vi": vi,
                "ame_pp": 100 * r.estimate,
                "se_pp": 100 * r.se,
                "ci_low_pp": 100 * r.ci_low,
                "ci_high_pp": 100 * r.ci_high,
                "p": r.p,
                "n": fit.n,
            }
        )
    return fit, rows, len(caught)


def _groups(data: pd.DataFrame, spec: IndexSpec, by) -> list[tuple[str, np.ndarray | None]]:
    groups: list = [("city", None)]
    if by is None:
        return groups
    if isinstance(by, Mapping):
        col = spec.design.commune
        if col is None or col not in data.columns:
            raise EstimationError("by= as a mapping needs the spec's [design] commune column in the data")
        key = data[col].map(dict(by))
    elif isinstance(by, str) and by in data.columns:
        key = data[by]
    else:
        raise EstimationError(f"by={by!r} must be a column of the data or a mapping commune -> group of communes")
    for g in sorted(pd.unique(key.dropna()), key=str):
        groups.append((str(g), (key == g).fillna(False).to_numpy(dtype=bool)))
    return groups


def drivers(
    data: pd.DataFrame,
    spec,
    design=None,
    by=None,
    level: float = 0.95,
    *,
    outcome: str | None = None,
    characteristics=None,
    min_n: int = 100,
) -> DriversResult:
    """Association of the outcome with item answers and household characteristics (AMEs, points).

    Parameters
    ----------
    data : pandas.DataFrame
        Survey microdata with the spec's items (codes, missing codes allowed) and design columns.
    spec : IndexSpec or str
        The index specification, or the name of a bundled one (``"yen_bai_nef"``).
    design : SurveyDesign or ReplicateDesign, optional
        The design of ``data`` (same rows and order); default a :class:`SurveyDesign` from
        the spec's ``[design]`` columns (weights, strata, PSU, fpc).
    by : str or mapping, optional
        Groups of communes: a column of ``data``, or a mapping commune -> group. Each group
        is a domain of the full design (its PSUs stay in the variance).
    level : float, default 0.95
        Interval level (t on the design df of each fit).
    outcome : str, optional
        Component whose items define the outcome (satisfied on at least half of them);
        default ``"ls"`` (life satisfaction) or the first component.
    characteristics : list of str, optional
        Household characteristics (treatment coded, first sorted level as reference);
        default every text column with 2-8 levels that is not an item or a design column.
    min_n : int, default 100
        Groups with fewer respondents are skipped (with a :class:`DriversWarning`).

    Returns
    -------
    DriversResult

    Raises
    ------
    ModelError
        The city-wide model cannot be fitted (separation, one-level term, ...).
    SpecError, EstimationError
        Unknown outcome component or characteristic columns.

    Notes
    -----
    The model is ``logit P(outcome) = b0 + sum_j b_j item_j + characteristics`` with the
    design weights (quasibinomial :func:`svyglm`). A group's model failing (too few
    respondents, a condition shared by everybody in the group) skips that group only.
    """
    spec = _spec(spec)
    comp, out_items = _outcome_items(spec, outcome)
    driver_items = [c for c in spec.satisfied_indicators(data.iloc[:0]).columns if c not in out_items]
    chars = _characteristics(data, spec, characteristics)
    if not driver_items and not chars:
        raise ModelError(
            "no condition to relate to the outcome: every item is part of it and no characteristic was found"
        )
    aliases = _aliases(driver_items, chars)
    frame = _model_frame(data, spec, out_items, aliases, driver_items)
    if design is None:
        dc = spec.design
        design = SurveyDesign(data, weights=dc.weights, strata=dc.strata, psu=dc.psu, fpc=dc.fpc)
    # formulaic evaluates the formula as Python code: only plain names and generated aliases enter it
    formula = _model_formula(aliases, driver_items)
    rows, fits, skipped, n_missing = [], {}, {}, {}
    for name, mask in _groups(data, spec, by):
        n_group = int(np.asarray(design.in_domain)[mask].sum()) if mask is not None else design.n
        if mask is not None and n_group < min_n:
            skipped[name] = f"{n_group} respondents (< {min_n})"
            continue
        try:
            fit, grows, _ = _fit_group(formula, design, frame, mask, spec, aliases, level)
        except ModelError as exc:
            if mask is None:
                raise
            skipped[name] = str(exc)
            continue
        fits[name], n_missing[name] = fit, fit.n_missing
        rows += [{"group": name, **r} for r in grows]
    for name, why in skipped.items():
        warnings.warn(f"drivers: group {name!r} left out: {why}", DriversWarning, stacklevel=2)
    first = spec.item(out_items[0]).labels
    if len(out_items) == 1:
        words = (
            f"satisfied ({first.en.lower()})",
            f"hài lòng ({first.vi.lower()})",
            f"answers “{first.en}” with a satisfied code",
            f"trả lời “{first.vi}” ở mức hài lòng",
        )
    else:
        k = len(out_items)
        words = (
            "satisfied with life",
            "hài lòng với cuộc sống",
            f"satisfied on at least half of the {k} “{comp.labels.en}” questions",
            f"hài lòng ở ít nhất một nửa trong {k} câu hỏi “{comp.labels.vi}”",
        )
    return DriversResult(
        pd.DataFrame(rows, columns=COLUMNS),
        words[0],
        words[1],
        _model_formula(aliases, driver_items, display=True),
        level,
        fits,
        skipped,
        n_missing,
        words[2],
        words[3],
        aliases,
    )

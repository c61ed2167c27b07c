"""The annual main job: validate, weight, estimate, compare, assess, and write the report folder.

:func:`run_annual` does the statistics office's yearly job on data already read into
DataFrames: validate -> weight (calibrate when margins are given; bootstrap replicates when
asked) -> compute the index with intervals for the city and every commune/ward -> compare
with the previous year -> assess against the targets. It returns an :class:`AnnualRun`
whose ``results`` is a plain JSON-able dict: every number the report shows, with
provenance (spec hash, data hashes, library version, seed).

:func:`write_report_files` writes every file of the report into a folder;
:func:`write_report` does it atomically for a report directory. The files:

* ``report.docx`` (the administrative format of Decree 30/2020/NĐ-CP, :mod:`.word`),
* ``report.html`` (self-contained, charts inlined, print stylesheet) and ``report.md``
  (:mod:`.documents`, Jinja2 templates, every data string escaped),
* ``chart_trajectory.png``, ``chart_communes.png``, ``chart_components.png`` (:mod:`.charts`),
* ``results.json``, the tables as CSV (UTF-8 with BOM, machine column names) and the
  formatted ``tables.xlsx`` (:mod:`.excel`, headers in the report's language).

Every sentence comes from the message catalog (:mod:`.catalog`), every number is formatted by
:mod:`.numbers` (Babel). Percentage points (``_pp``) and relative change (``_rel_pct``) are
always labelled.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import sys
import unicodedata
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import EstimationError, HappinessIndexError, SchemaError, describe_rows
from ..index.composite import to_jsonable as _clean
from .analyses import build_design, run_analyses, units_for_change
from .catalog import catalog
from .cells import neutralise_frame
from .charts import plot_communes, plot_components, plot_trajectory, trajectory_figure
from .documents import png_data_uri, render_html, render_markdown
from .numbers import check_lang
from .text import domain_labels, vi_sort_key

__all__ = [
    "OPTIONAL_SECTIONS",
    "REPORT_FILES",
    "AnnualRun",
    "Progress",
    "plot_communes",
    "plot_components",
    "plot_trajectory",
    "render_html",
    "render_markdown",
    "run_annual",
    "summary_lines",
    "trajectory_figure",
    "vi_sort_key",
    "write_report",
    "write_report_files",
]

#: Files written by :func:`write_report_files` (the tables also go to ``tables.xlsx``).
REPORT_FILES = (
    "report.docx",
    "report.md",
    "report.html",
    "results.json",
    "chart_trajectory.png",
    "chart_communes.png",
    "chart_components.png",
    "index.csv",
    "components.csv",
    "communes.csv",
    "change_communes.csv",
    "targets.csv",
    "tables.xlsx",
)

#: Optional analyses a run may carry (``AnnualRun`` attributes and ``results`` keys).
OPTIONAL_SECTIONS = ("drivers", "small_area", "robustness", "distributions")


# ---------------------------------------------------------------------------------------
# progress
# ---------------------------------------------------------------------------------------
class Progress:
    """A minimal text progress bar on a stream (stderr by default); no dependency.

    Parameters
    ----------
    total : int
        Number of steps.
    stream : file-like, optional
    enabled : bool or None, default True
        ``None``: draw only when the stream is a terminal (``stream.isatty()``), so that a
        log file or a pipe never receives ``\\r`` control characters.
    width : int, default 24
        Characters of the bar.
    lang : {"vi", "en"}, default "en"
        Language of the step labels :func:`run_annual` writes (from the message catalog). The
        command line passes its ``--lang``; the English default keeps the labels of earlier
        versions for callers that translate them themselves.
    """

    def __init__(self, total: int, stream=None, enabled: bool | None = True, width: int = 24, lang: str = "en"):
        self.lang = check_lang(lang)
        self.total, self.done, self.width = max(int(total), 1), 0, width
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            try:
                enabled = bool(self.stream.isatty())
            except (AttributeError, ValueError, OSError):
                enabled = False
        self.enabled = bool(enabled)

    def step(self, label: str) -> None:
        self.done = min(self.done + 1, self.total)
        if not self.enabled:
            return
        k = int(round(self.width * self.done / self.total))
        self.stream.write(f"\r[{'#' * k}{'.' * (self.width - k)}] {self.done}/{self.total} {label[:60]:<60}")
        if self.done == self.total:
            self.stream.write("\n")
        self.stream.flush()


# ---------------------------------------------------------------------------------------
# the job
# ---------------------------------------------------------------------------------------
@dataclass
class AnnualRun:
    """What :func:`run_annual` produced.

    Attributes
    ----------
    results : dict
        JSON-able: every number of the report with provenance (see :func:`write_report`).
    result, previous_result : IndexResult or None
    change : Change or None
    assessment : Assessment or None
    validation : ValidationReport
    """

    results: dict
    result: Any
    previous_result: Any = None
    change: Any = None
    assessment: Any = None
    validation: Any = None
    extra: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    drivers: Any = None
    small_area: Any = None
    robustness: Any = None
    distributions: Any = None


def _nfc(s) -> str:
    return unicodedata.normalize("NFC", str(s))


def _require_rows(data, what: str) -> None:
    """Refuse survey data without rows (a file holding only its header line)."""
    if isinstance(data, pd.DataFrame) and len(data) == 0:
        cols = ", ".join(map(str, list(data.columns)[:5])) + (", ..." if data.shape[1] > 5 else "")
        raise SchemaError(
            f"the {what} data have no rows: the file holds only a header ({cols or 'no columns'}); "
            "export the survey again with its data rows"
        )


def _select_year(data: pd.DataFrame, year, what: str):
    """Rows of ``year`` when the data have a ``year`` column; the year found otherwise."""
    if "year" not in data.columns:
        if year is None:  # the report states the year in its title and every comparison
            flag = "--year" if what == "survey" else "--previous-year"
            which = "khảo sát" if what == "survey" else "năm trước"
            raise EstimationError(
                f"the year of the {what} file is unknown: it has no 'year' column; give it with {flag} "
                f"(run_annual(..., {'year' if what == 'survey' else 'previous_year'}=...)) or add a 'year' column",
                vi=f"không biết năm của tệp {which}: tệp không có cột 'year'; hãy ghi năm bằng {flag} (ví dụ "
                f"{flag} 2024) hoặc thêm cột 'year'",
            )
        return data, int(year)
    years = _year_values(data, what)
    present = sorted(int(y) for y in pd.unique(years))
    if year is None:
        if len(present) == 1:
            return data, present[0]
        raise EstimationError(
            f"the {what} file holds several years {present} in column 'year'; choose one "
            "with --year (and --previous-year for the comparison)",
            vi=f"tệp có nhiều năm {present} ở cột 'year'; hãy chọn một năm bằng --year (và --previous-year "
            "cho năm so sánh)",
        )
    if int(year) not in present:
        raise EstimationError(
            f"the {what} file has no rows for year {year}; its years are {present}",
            vi=f"tệp không có dòng nào của năm {year}; các năm có trong tệp: {present}",
        )
    return data.loc[(years == int(year)).to_numpy()].reset_index(drop=True), int(year)


def _year_values(data: pd.DataFrame, what: str) -> pd.Series:
    """The ``year`` column as numbers; a blank, unreadable or fractional year is refused, naming the rows."""
    col = data["year"]
    years = pd.to_numeric(col, errors="coerce") if col.dtype != bool else pd.Series(np.nan, index=col.index)
    whole = years.notna() & np.isfinite(years.astype(float)) & (years.astype(float) % 1 == 0)
    if not whole.all():
        bad = np.flatnonzero(~whole.to_numpy())
        cells = list(dict.fromkeys(_cell_text(col.iloc[i]) for i in bad))
        raise EstimationError(
            f"the {what} file has {len(bad)} row(s) whose 'year' is blank or not a whole year (cells: "
            f"{', '.join(cells[:5])}{', ...' if len(cells) > 5 else ''}), which a year selection would silently "
            f"drop: data rows {describe_rows(bad + 1)} (1 = first row after the header); write the "
            "survey year (e.g. 2024) in every row of the 'year' column, or remove the column and give the "
            "year with --year / --previous-year"
        )
    return years.astype(float)


def _cell_text(v) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
        return "blank"
    t = str(v)
    return repr(t[:20] + ("..." if len(t) > 20 else ""))


def run_annual(
    survey: pd.DataFrame,
    spec,
    *,
    frame: pd.DataFrame | None = None,
    margins: Mapping | None = None,
    previous: pd.DataFrame | Mapping | None = None,
    targets: Any = None,
    year: int | None = None,
    previous_year: int | None = None,
    replicates: int | None = None,
    seed: int | None = None,
    level: float = 0.95,
    calibration_method: str = "raking",
    progress: Progress | None = None,
    inputs: Mapping | None = None,
    synthetic: bool = False,
    lonely_psu: str = "fail",
    area_covariates: pd.DataFrame | None = None,
    crosswalk: pd.DataFrame | None = None,
    robustness_draws: int = 0,
    drivers: bool = True,
    report_config: Mapping | None = None,
) -> AnnualRun:
    """Validate, weight, estimate, compare and assess one year of the survey.

    Parameters
    ----------
    survey : DataFrame
        This year's microdata (one row per respondent). With a ``year`` column holding
        several years, ``year`` selects the rows.
    spec : IndexSpec
    frame : DataFrame, optional
        Sampling frame for validation (communes, villages).
    margins : mapping, optional
        Population totals ``{column: {category: count}}`` for calibration (both years).
    previous : DataFrame or mapping, optional
        Last year's microdata (estimated the same way; the two years are treated as
        independent samples) or last year's ``results.json`` dict (its ``index``).
    targets : Trajectory, str, path or mapping, optional
        Default: the spec's ``[[targets]]`` when it has any.
    year, previous_year : int, optional
    replicates, seed : int, optional
        Bootstrap replicate variance (Rao-Wu) with this many replicates and seed instead of
        Taylor linearisation.
    level : float, default 0.95
    calibration_method : {"raking", "linear", "logit"}, default "raking"
    progress : Progress, optional
    inputs : mapping, optional
        ``{role: path}`` of the input files, hashed into the provenance.
    synthetic : bool
        Mark the report as made from synthetic data.
    lonely_psu : {"fail", "remove", "adjust", "average", "certainty"}, default "fail"
        Rule for a stratum with a single PSU, passed to :class:`SurveyDesign` for both
        years (R's ``survey.lonely.psu``; Lumley 2010, §3.2). Point estimates do not depend
        on it, only standard errors.
    area_covariates : DataFrame, optional
        Covariates by commune (the spec's commune column, ``households`` and numeric
        predictors): the commune results are modelled by :func:`small_area_index` and
        ``AnnualRun.small_area`` / the report's small-area section show the direct and model
        estimates, which one is published and why, and rank intervals.
    crosswalk : DataFrame, optional
        Boundary crosswalk (:func:`read_crosswalk`) from the previous year's communes to
        this year's units: the previous year is re-estimated from its microdata on the new
        units, so that the change table compares like with like; incomplete units are
        flagged in ``results["crosswalk"]`` and the report.
    robustness_draws : int, default 0
        Draws per scenario of :func:`robustness` (at least 20; 0 skips it), seeded with
        ``seed`` (one is drawn and recorded in ``results["provenance"]["robustness_seed"]``
        when ``seed`` is None).
    drivers : bool, default True
        Whether the drivers analysis is wanted (:func:`.analyses.run_drivers`).

    Item distributions (:func:`item_distributions`, city-wide) are always attached.
    report_config : mapping, optional
        Administrative details of the Word report: ``issuing_body``, ``parent_body``,
        ``document_number``, ``place``, ``signer_title``, ``signer_name``, ``recipients``,
        ``date`` (each a string or ``{"vi": ..., "en": ...}``); kept in
        ``results["report_config"]``. The report date defaults to the day of the run.

    Returns
    -------
    AnnualRun

    Raises
    ------
    SchemaError
        The survey (or previous year's data) fail validation; ``err.report`` holds the
        :class:`ValidationReport`. A survey without data rows (a file holding only the
        header) is refused with ``err.report = None``.
    HappinessIndexError
        Any other refusal of the library (design, weighting, estimation).
    """
    arguments = dict(locals())  # the call as given (re-issued when both years are in one file)
    from .. import __version__
    from ..index.composite import compute_index
    from ..reading.schema import validate_survey

    if int(robustness_draws) < 0:
        raise EstimationError(
            f"robustness_draws must be 0 (no robustness analysis) or at least 20, got {robustness_draws}"
        )
    prog = progress or Progress(6, enabled=False)
    say = catalog(getattr(prog, "lang", "en"))
    _require_rows(survey, "survey")
    data, year = _select_year(survey, year, "survey")
    rep = validate_survey(data, spec, frame)
    prog.step(say("progress.validated" if rep.ok else "progress.validation_failed"))
    if not rep.ok:
        rep.raise_if_errors()
    clean = rep.data
    design, cal = build_design(clean, spec, margins, replicates, seed, calibration_method, lonely_psu)
    prog.step(say("progress.weighted_replicates", n=str(replicates)) if replicates else say("progress.weighted"))
    result = compute_index(
        clean, spec, design=design, by="commune" if spec.design.commune else None, level=level, seed=seed
    )
    prog.step(say("progress.index"))

    build = {
        "margins": margins,
        "replicates": replicates,
        "calibration_method": calibration_method,
        "lonely_psu": lonely_psu,
    }
    prev_result = prev_rep = None
    prev_year = previous_year
    if previous is not None:
        prev_result, prev_rep, prev_year = _previous_year(
            previous, previous_year, year, spec, frame, build, level, seed
        )
    elif previous_year is not None and "year" in survey.columns:
        return run_annual(**{**arguments, "previous": survey})  # both years in one file
    elif previous_year is not None:
        raise EstimationError(
            f"previous year {previous_year} given, but no previous data and the survey has no "
            "'year' column; pass the previous year's file (--previous)"
        )
    prog.step(say("progress.previous" if prev_result is not None else "progress.no_previous"))

    change, cw_record = _change_between_years(
        clean, result, prev_result, prev_rep, spec, crosswalk, year, prev_year, level, seed, build
    )
    traj, assessment = _assess(targets, spec, year, result, prev_result, prev_year, level)
    prog.step(say("progress.assessed"))

    results = _results_dict(
        spec,
        result,
        prev_result,
        change,
        assessment,
        rep,
        cal,
        year,
        prev_year,
        level,
        replicates,
        seed,
        inputs,
        synthetic,
        __version__,
    )
    results["provenance"]["lonely_psu"] = lonely_psu
    if lonely_psu != "fail":
        results["method_notes"].append(
            f"Strata with a single PSU: lonely_psu = '{lonely_psu}' (R's survey.lonely.psu); it changes "
            "standard errors only, never the estimates."
        )
    _add_report_facts(results, spec, result, clean, frame, report_config)
    if cw_record is not None:
        _add_crosswalk_facts(results, cw_record)
    options = {
        "area_covariates": area_covariates,
        "crosswalk": crosswalk,
        "robustness_draws": int(robustness_draws),
        "drivers": bool(drivers),
    }
    run = AnnualRun(
        results=results,
        result=result,
        previous_result=prev_result,
        change=change,
        assessment=assessment,
        validation=rep,
        options=options,
    )
    analyses, facts = run_analyses(
        clean,
        spec,
        design,
        result,
        level=level,
        seed=seed,
        area_covariates=area_covariates,
        robustness_draws=int(robustness_draws),
        drivers=drivers,
        targets=traj,
        margins=margins,
        calibration_method=calibration_method,
        lonely_psu=lonely_psu,
    )
    results["provenance"].update(facts)
    for name in OPTIONAL_SECTIONS:  # the drivers are computed (and attached) in analyses.run_drivers
        if analyses.get(name) is not None:
            attach_section(run, name, analyses[name])
    return run


def _previous_year(previous, previous_year, year, spec, frame, build: dict, level, seed):
    """Last year's (result, validation report or None, year) from its microdata or its results.json."""
    from ..index.composite import compute_index
    from ..reading.schema import validate_survey

    if isinstance(previous, Mapping):
        checked = _previous_results(previous, previous_year, year)
        return checked, None, checked["year"]
    _require_rows(previous, "previous")
    pdata, prev_year = _select_year(previous, previous_year, "previous")
    _check_previous_year(prev_year, year)
    prev_rep = validate_survey(pdata, spec, frame)
    if not prev_rep.ok:
        prev_rep.raise_if_errors()
    pdesign, _ = build_design(prev_rep.data, spec, seed=seed, **build)
    prev_result = compute_index(
        prev_rep.data, spec, design=pdesign, by="commune" if spec.design.commune else None, level=level, seed=seed
    )
    return prev_result, prev_rep, prev_year


def _check_previous_year(prev_year, year) -> None:
    """Refuse a previous year that is not earlier than this year (e.g. this year's own file as --previous)."""
    if prev_year is not None and year is not None and not int(prev_year) < int(year):
        raise EstimationError(
            f"the previous year's data are for {prev_year}, not earlier than this year {year}: a change from "
            f"{prev_year} to {year} is not a change between years (is --previous this year's own file?); give "
            "last year's survey or results.json (--previous), or the right years (--year, --previous-year)"
        )


def _previous_results(previous: Mapping, previous_year, year) -> dict:
    """Last year's index from its results.json dict, checked (blocks, numbers, spec, year)."""
    from ..index.trajectory import previous_results

    checked = previous_results(previous, year=year, source="previous results (results.json)")
    if previous_year is not None and int(previous_year) != checked["year"]:
        raise EstimationError(
            f"previous year {previous_year} given (--previous-year), but last year's results.json is for "
            f"{checked['year']}: give the results of {previous_year}, or drop --previous-year"
        )
    return checked


def _change_between_years(
    clean, result, prev_result, prev_rep, spec, crosswalk, year, prev_year, level, seed, build: dict
):
    """The change (Change or None) and the crosswalk record (None without a crosswalk)."""
    from ..index.trajectory import compare

    if prev_result is None:
        if crosswalk is not None:
            raise EstimationError(
                "a crosswalk re-estimates last year on this year's units: give last year's survey (--previous) too"
            )
        return None, None
    labels = (str(year) if year else "this year", str(prev_year) if prev_year else "previous year")
    now, before, record = result, prev_result, None
    if crosswalk is not None:
        now, before, record = _on_new_units(clean, prev_rep, spec, result, crosswalk, level, seed, build)
    return compare(now, before, labels=labels, level=level), record


def _assess(targets, spec, year, result, prev_result, prev_year, level):
    """(Trajectory or None, Assessment or None): the targets given, else the spec's."""
    from ..index.trajectory import Trajectory

    traj = None
    if targets is not None:
        traj = targets if isinstance(targets, Trajectory) else Trajectory(targets)
    elif spec.targets:
        traj = Trajectory.from_spec(spec)
    if traj is None or year is None:
        return traj, None
    res = {year: result}
    if prev_result is not None and prev_year is not None:
        res[int(prev_year)] = prev_result
    return traj, traj.assess(res, level=level)


def _on_new_units(clean, prev_rep, spec, result, crosswalk, level, seed, build):
    if prev_rep is None:
        raise EstimationError(
            "a crosswalk re-estimates last year on this year's units from its microdata; last "
            "year's results.json is not enough: give last year's survey file (--previous)"
        )
    return units_for_change(clean, prev_rep.data, spec, result, crosswalk, level=level, seed=seed, **build)


def _add_crosswalk_facts(results: dict, record: dict) -> None:
    """``results["crosswalk"]`` and the new units' names and completeness in the change table."""
    results["crosswalk"] = record
    flags = {str(f["new_unit"]): f for f in record["flags"]}
    for r in (results.get("change") or {}).get("by_group") or []:
        f = flags.get(str(r.get("commune")))
        if f is not None:
            r["name"] = f.get("new_name") or r.get("name")
            r["complete"] = bool(f["complete"])
            r["reason_en"], r["reason_vi"] = f.get("reason_en") or "", f.get("reason_vi") or ""
    results["method_notes"].append(
        "Boundary crosswalk: last year was re-estimated from its microdata on this year's units (each new unit a "
        "domain of last year's design)"
        + (", and so was this year" if record["this_year_recoded"] else "")
        + "; units flagged incomplete compare only their sampled parts."
    )


def commune_names(
    data: pd.DataFrame | None, frame: pd.DataFrame | None, code_col: str | None, name_col: str | None
) -> dict[str, str]:
    """``{code: name}`` from the survey's (else the frame's) name column; empty without one.

    Codes are keyed as the text of the code (as results.json writes them); names are NFC.
    """
    for src in (data, frame):
        if src is None or not code_col or not name_col or code_col not in src or name_col not in src:
            continue
        pairs = src[[code_col, name_col]].dropna().drop_duplicates(subset=[code_col])
        return {str(c): _nfc(n).strip() for c, n in zip(pairs[code_col], pairs[name_col])}
    return {}


def _add_report_facts(results: dict, spec, result, data, frame, report_config) -> None:
    """Names of the communes, adjusted p-values, the formula's sensitivity, spec facts, date and config."""
    from ..index.multiplicity import adjust_pvalues

    names = commune_names(data, frame, spec.design.commune, spec.design.commune_name)
    for row in results["communes"]:
        row["name"] = names.get(str(row["commune"]), str(row["commune"]))
    ch = results.get("change") or {}
    bg = ch.get("by_group") or []
    if bg:
        key = next(iter(bg[0]))
        p = np.array([np.nan if r.get("p_value") is None else r["p_value"] for r in bg], dtype=float)
        for r, holm, bh in zip(bg, adjust_pvalues(p, "holm"), adjust_pvalues(p, "bh")):
            r["p_holm"], r["p_bh"] = _clean(float(holm)), _clean(float(bh))
            r["commune"] = r.get("commune", r[key])
            r["name"] = names.get(str(r[key]), str(r[key]))
    sens = getattr(result, "sensitivity", None)
    if isinstance(sens, pd.DataFrame):
        results["sensitivity"] = {
            "table": _clean(sens.reset_index(names="input").to_dict(orient="records")),
            "note": sens.attrs.get("note"),
        }
    results["spec"] = {
        "name": spec.name,
        "version": spec.version,
        "preset": spec.preset,
        "formula": spec.formula or spec.implied_formula(),
        "scale": spec.scale,
    }
    cfg = dict(report_config or {})
    date = cfg.pop("date", None)
    results["report_date"] = str(date or _dt.date.today().isoformat())
    results["report_config"] = _clean(cfg)
    for key in OPTIONAL_SECTIONS:
        results.setdefault(key, None)


def attach_section(run: AnnualRun, name: str, value) -> AnnualRun:
    """Attach an optional analysis to a run: the object and its frames in ``results``.

    Parameters
    ----------
    run : AnnualRun
    name : {"drivers", "small_area", "robustness", "distributions"}
    value : object
        The producer's result (see SECTIONS.md): ``DriversResult``, ``SmallAreaIndexTable``,
        ``RobustnessResult`` or ``DistributionTable``.

    Returns
    -------
    AnnualRun
        ``run``, with ``run.<name>`` set and ``run.results[name]`` holding the records the
        report renders.
    """
    if name not in OPTIONAL_SECTIONS:
        raise HappinessIndexError(f"unknown report section {name!r}; expected one of {OPTIONAL_SECTIONS}")
    setattr(run, name, value)
    run.results[name] = section_records(name, value)
    return run


def _records(frame) -> list:
    return _clean(frame.to_dict(orient="records")) if isinstance(frame, pd.DataFrame) else []


#: Columns of ``SmallAreaIndexTable.details`` kept in results.json besides the contract's (the numbers
#: its reasons quote: the model interval's half-width, the CV, ...).
SMALL_AREA_DETAILS = (
    "n",
    "direct_se",
    "rmse",
    "model_halfwidth",
    "model_cv",
    "shift",
    "std_residual",
    "direct_publishable",
    "model_publishable",
    "rank_low_marginal",
    "rank_high_marginal",
)


def _small_area_table(value) -> pd.DataFrame:
    frame = value.to_frame()
    details = getattr(value, "details", None)
    if isinstance(details, pd.DataFrame) and len(details) == len(frame):
        extra = [c for c in SMALL_AREA_DETAILS if c in details.columns and c not in frame.columns]
        frame = pd.concat([frame, details[extra].reset_index(drop=True)], axis=1)
    return frame


def section_records(name: str, value) -> dict | None:
    """The JSON-able records of an optional analysis (what results.json and the report hold)."""
    if value is None:
        return None
    if name == "drivers":
        return {
            "outcome_en": getattr(value, "outcome_en", ""),
            "outcome_vi": getattr(value, "outcome_vi", ""),
            "table": _records(value.to_frame()),
        }
    if name == "small_area":
        extra = {
            k: _clean(getattr(value, k))
            for k in ("summary", "benchmark", "rule")
            if isinstance(getattr(value, k, None), dict)
        }
        return {"table": _records(_small_area_table(value)), **extra}
    if name == "robustness":
        out = {k: _records(getattr(value, k, None)) for k in ("city", "communes", "targets", "sobol")}
        extra = {
            k: _clean(getattr(value, k))
            for k in ("baseline", "draws", "replicates", "seed")
            if getattr(value, k, None) is not None
        }
        return {**out, **extra}
    if name == "distributions":
        return {"table": _records(value.to_frame()), "summary": _records(getattr(value, "summary", None))}
    raise HappinessIndexError(f"unknown report section {name!r}")


def _file_hash(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _est(e) -> dict:
    return {
        "estimate": e.estimate,
        "se": e.se,
        "ci_low": e.ci_low,
        "ci_high": e.ci_high,
        "df": e.df,
        "level": e.level,
        "ci_method": e.ci_method,
        "n": e.n,
    }


def _results_dict(
    spec,
    result,
    prev_result,
    change,
    assessment,
    rep,
    cal,
    year,
    prev_year,
    level,
    replicates,
    seed,
    inputs,
    synthetic,
    version,
) -> dict:
    from ..reading.datasets import SYNTHETIC_NOTICE

    comps = []
    for e in result.components:
        c = spec.component(e.name)
        comps.append({"name": e.name, "label_vi": c.labels.vi, "label_en": c.labels.en, **_est(e)})
    communes = []
    if result.by_group is not None:
        f = result.by_group.to_frame()
        key = f.columns[0]
        for _, r in f.iterrows():
            communes.append(
                {
                    "commune": _nfc(r[key]),
                    "estimate": r["estimate"],
                    "se": r["se"],
                    "ci_low": r["ci_low"],
                    "ci_high": r["ci_high"],
                    "df": r["df"],
                    "n": r["n"],
                    "cv": r["cv"],
                    "publishable": bool(r["publishable"]),
                    "reason": r["reason"],
                    "reason_en": r.get("reason_en", r["reason"]),
                    "reason_vi": r.get("reason_vi", r["reason"]),
                    "diff_city_pp": r["diff_city_pp"],
                    "diff_se": r["diff_se"],
                    **{k: r[k] for k in f.columns if k.startswith("component_")},
                }
            )
    prev = None
    if prev_result is not None:
        if hasattr(prev_result, "overall"):
            prev = {"year": prev_year, **_est(prev_result.overall), "provenance": prev_result.provenance}
        else:
            prev = {"year": prev_year, **{k: prev_result.get(k) for k in ("estimate", "se", "ci_low", "ci_high", "df")}}
    o = result.overall
    lvl = result.level
    prov = dict(result.provenance)
    prov.update(
        {
            "library_version": version,
            "seed": seed,
            "replicates": replicates,
            "inputs": {k: {"file": Path(p).name, "sha256": _file_hash(p)} for k, p in (inputs or {}).items()},
        }
    )
    dcol = spec.design.commune
    dlab = {"vi": spec.design.commune_label_vi, "en": spec.design.commune_label_en}
    plab = {"vi": spec.design.population_label_vi, "en": spec.design.population_label_en}
    tmp = {"domain_column": dcol, "domain_label": dlab, "population_label": plab}
    d_en, p_en = domain_labels(tmp, "en")
    d_vi, p_vi = domain_labels(tmp, "vi")
    rule = result.by_group.publication_rule if result.by_group is not None else spec.publication.effective(spec.scale)
    notes = _method_notes(spec, result, cal, rule, d_en)
    communes.sort(key=lambda r: vi_sort_key(r["commune"]))
    out = {
        "title": {"vi": spec.labels.vi, "en": spec.labels.en},
        "synthetic": bool(synthetic),
        "notice": SYNTHETIC_NOTICE if synthetic else None,
        "year": year,
        "previous_year": prev_year,
        "domain_column": dcol,
        "domain_label": {"vi": d_vi, "en": d_en},
        "population_label": {"vi": p_vi, "en": p_en},
        "publication_rule": rule,
        "level": level,
        "index": {**_est(o), "level_band": None if lvl is None else {"vi": lvl.labels.vi, "en": lvl.labels.en}},
        "components": comps,
        "communes": communes,
        "previous": prev,
        "change": None if change is None else change.to_dict(),
        "targets": None if assessment is None else assessment.to_dict(),
        "validation": {"ok": rep.ok, "n_rows": rep.n_rows, "coercions": len(rep.coercions)},
        "weighting": None if not cal else {k: v for k, v in cal.items() if not isinstance(v, pd.DataFrame)},
        "method_notes": notes,
        "provenance": prov,
    }
    if out["change"] and out["change"].get("by_group"):
        bg = out["change"]["by_group"]
        key = next(iter(bg[0]))
        out["change"]["by_group"] = sorted(bg, key=lambda r: vi_sort_key(r[key]))
    return _clean(out)


def _method_notes(spec, result, cal, rule, domain: str) -> list[str]:
    """The method as a technical record for results.json (English; the report's words are in the catalog)."""
    formula = spec.formula or spec.implied_formula()
    notes = [
        f"Index: {spec.labels.en} ({spec.preset}, formula {formula}), scale {spec.scale}.",
        f"Variance: {result.variance_method}; intervals: {result.ci_scale}.",
        f"Domains ({domain[:1].lower() + domain[1:]}) are estimated on the full design, never by dropping rows.",
        "Changes are in percentage points (new - old); relative change is 100 (new/old - 1), labelled separately.",
        (
            "Target status: 'reached' when the whole interval is at or above the target, 'not reached' when it is "
            "below, otherwise 'not distinguishable' (one-sided tests at (1 - level)/2 each)."
        ),
    ]
    if result.by_group is not None:
        parts = [
            text
            for key, text in (
                ("min_n", "at least {} respondents"),
                ("max_cv", "CV at most {:.0%}"),
                ("max_ci_halfwidth", "interval half-width at most {:g} points"),
                ("min_df", "at least {} design degrees of freedom"),
            )
            if rule.get(key) is not None
            for text in [text.format(rule[key])]
        ]
        notes.append(
            "Publication rule: an estimate is published when it has "
            + ", ".join(parts or ["a defined index"])
            + "; otherwise the table gives the reason."
        )
    if cal:
        m = str(cal.get("method", "")).removeprefix("calibrate:")
        notes.append(
            f"Weights calibrated ({m}) to the margins given; "
            + ("converged." if cal.get("converged") else "did NOT converge.")
        )
    return notes


def summary_lines(results: Mapping, lang: str = "en") -> list[str]:
    """The terminal summary of a run (``happiness-index run`` prints it), in ``lang``."""
    from .sections import status_text
    from .text import Formatter

    t, f = catalog(check_lang(lang)), Formatter(lang)
    level = f.pct(results["level"])
    idx = results["index"]
    title = results["title"].get(lang) or results["title"]["en"]
    out = [title + (f" [{t('report.synthetic')}]" if results.get("synthetic") else "")]
    out.append(
        "  "
        + t(
            "terminal.index",
            year=str(results.get("year") or ""),
            value=f.num(idx["estimate"]),
            level=level,
            ci=f.ci(idx.get("ci_low"), idx.get("ci_high")),
            se=f.num(idx.get("se")),
        )
    )
    band = idx.get("level_band")
    if band:
        out.append("  " + t("terminal.band", band=band.get(lang) or band.get("en")))
    ch = results.get("change")
    if ch:
        out.append(
            "  "
            + t(
                "terminal.change",
                old=str(ch["old_label"]),
                new=str(ch["new_label"]),
                change=f.sign(ch["change_pp"]),
                level=level,
                ci=f.ci(ch.get("ci_low"), ch.get("ci_high"), sign=True),
                p=f.p(ch.get("p_value")),
            )
        )
    if results.get("communes"):
        k = sum(not c["publishable"] for c in results["communes"])
        out.append(
            "  "
            + t(
                "terminal.not_publishable",
                domain=domain_labels(results, lang)[0],
                k=f.int(k),
                n=f.int(len(results["communes"])),
            )
            + (t("terminal.see_reasons") if k else "")
        )
    sa = (results.get("small_area") or {}).get("summary")
    if sa:
        out.append(
            "  "
            + t(
                "terminal.small_area",
                domain=domain_labels(results, lang)[0],
                direct=f.int(sa["published_direct"]),
                model=f.int(sa["published_model"]),
                none=f.int(sa["published_none"]),
            )
        )
    for r in (results.get("targets") or {}).get("years") or []:
        if r.get("target") is None:
            continue
        out.append(
            "  "
            + t(
                "terminal.target",
                year=str(r["year"]),
                target=f.num(r["target"], 1),
                value=f.num(r.get("estimate")),
                status=status_text(r.get("status") or "", lang),
            )
        )
    return out


# ---------------------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------------------
def _tables(results: Mapping) -> dict[str, pd.DataFrame]:
    """The report's tables as DataFrames with machine column names (written as CSV)."""
    idx = results["index"]
    keys = ("estimate", "se", "ci_low", "ci_high", "df", "n")
    rows = [{"scope": "city", "year": results.get("year"), **{k: idx.get(k) for k in keys}}]
    if results.get("previous"):
        p = results["previous"]
        rows.append({"scope": "city (previous year)", "year": p.get("year"), **{k: p.get(k) for k in keys}})
    ch = results.get("change") or {}
    tg = results.get("targets") or {}
    return {
        "index": pd.DataFrame(rows),
        "components": pd.DataFrame(results["components"]),
        "communes": pd.DataFrame(results["communes"]),
        "change_communes": pd.DataFrame(ch.get("by_group") or []),
        "targets": pd.DataFrame(tg.get("years") or []),
    }


def write_report_files(results: Mapping, folder, lang: str = "vi", report_config: Mapping | None = None) -> list[Path]:
    """Write every file of the report into ``folder`` (which must exist).

    Parameters
    ----------
    results : mapping
        :attr:`AnnualRun.results` (or a ``results.json`` read back).
    folder : path
        An existing directory, normally empty and temporary: the atomic swap into the
        report directory is the caller's (:func:`write_report`, or the CLI's
        ``publish_report``).
    lang : {"vi", "en"}
    report_config : mapping, optional
        Administrative details of the Word report (issuing_body, document_number, place,
        signer_title, ...); overrides ``results["report_config"]``.

    Returns
    -------
    list of Path
        The files written, in :data:`REPORT_FILES` order.
    """
    from .content import build_document
    from .excel import write_tables_xlsx
    from .word import write_docx

    check_lang(lang)
    folder = Path(folder)
    (folder / "results.json").write_text(
        json.dumps(results, ensure_ascii=False, indent=2, allow_nan=False) + "\n", encoding="utf-8"
    )
    doc = build_document(results, lang, report_config)
    pictures = {
        "chart_trajectory": folder / "chart_trajectory.png",
        "chart_communes": folder / "chart_communes.png",
        "chart_components": folder / "chart_components.png",
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plot_trajectory(results, pictures["chart_trajectory"], lang)
        plot_communes(results, pictures["chart_communes"], lang)
        plot_components(results, pictures["chart_components"], lang)
    uris = {name: png_data_uri(path.read_bytes()) for name, path in pictures.items()}
    (folder / "report.md").write_text(render_markdown(doc), encoding="utf-8")
    (folder / "report.html").write_text(render_html(doc, charts=uris), encoding="utf-8")
    write_docx(doc, folder / "report.docx", pictures)
    for name, df in _tables(results).items():
        neutralise_frame(df).to_csv(folder / f"{name}.csv", index=False, encoding="utf-8-sig")
    write_tables_xlsx(results, folder / "tables.xlsx", lang)
    return [folder / n for n in REPORT_FILES]


def write_report(
    results: dict, out_dir, lang: str = "vi", *, protect=(), report_config: Mapping | None = None
) -> list[Path]:
    """Write the report directory atomically.

    Parameters
    ----------
    results : dict
        From :attr:`AnnualRun.results` (or a ``results.json`` read back).
    out_dir : path
        The report folder. It may not exist yet, be empty, or hold an earlier report written
        by this function (listed in its manifest and unchanged), which is then replaced.
    lang : {"vi", "en"}, default "vi"
    protect : iterable of paths
        Input files: the run refuses to write a directory containing any of them.
    report_config : mapping, optional
        See :func:`write_report_files`.

    Returns
    -------
    list of Path
        The files written (in their final place).

    Raises
    ------
    HappinessIndexError
        ``out_dir`` is a file, holds files this program did not write, or contains an input
        file; ``lang`` unknown.
    OSError
        The folder cannot be written (permissions, full disk); ``filename`` is ``out_dir``
        (never the temporary folder), and nothing is left behind.
    """
    from .outputs import publish_report

    check_lang(lang)
    return publish_report(
        Path(out_dir), lambda tmp: write_report_files(results, tmp, lang, report_config), protected=protect
    )

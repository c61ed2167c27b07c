"""The annual main job and its report: tables, charts, Markdown/HTML in Vietnamese and English.

:func:`run_annual` does the statistics office's yearly job on data already read into
DataFrames: validate -> weight (calibrate when margins are given; bootstrap replicates when
asked) -> compute the index with intervals for the city and every commune/ward -> compare
with the previous year -> assess against the targets. It returns an :class:`AnnualRun`
whose ``results`` is a plain JSON-able dict: every number the report shows, with
provenance (spec hash, data hashes, library version, seed).

:func:`write_report` turns that dict into a report directory, atomically (everything is
written into a temporary directory next to the target, then renamed into place):

* ``report.md`` and ``report.html`` (UTF-8; every string from the data is HTML-escaped),
* ``chart_trajectory.png`` (estimates with CI bars against the targets),
  ``chart_communes.png`` (communes sorted, with CIs), ``chart_components.png``,
* ``results.json``, and the tables as CSV (UTF-8 with BOM, for Excel) and ``tables.xlsx``.

Percentage points (``_pp``) and relative change (``_rel_pct``) are always labelled.
"""

from __future__ import annotations

import hashlib
import html
import json
import math
import os
import shutil
import sys
import unicodedata
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import EstimationError, HappinessIndexError, SchemaError

__all__ = ["run_annual", "AnnualRun", "write_report", "render_markdown", "render_html", "plot_trajectory",
           "plot_communes", "plot_components", "Progress", "REPORT_FILES", "TEXT"]

#: Files written by :func:`write_report` (the tables also go to ``tables.xlsx``).
REPORT_FILES = ("report.md", "report.html", "results.json", "chart_trajectory.png", "chart_communes.png",
                "chart_components.png", "index.csv", "components.csv", "communes.csv", "change_communes.csv",
                "targets.csv", "tables.xlsx")

TEXT = {
    "en": {
        "title": "Happiness index report", "synthetic": "SYNTHETIC DATA",
        "summary": "Summary", "index": "Index", "year": "Year", "estimate": "Estimate", "se": "SE",
        "ci": "{p}% CI", "df": "df", "n": "Respondents", "level": "Level", "components": "Components",
        "component": "Component", "communes": "Communes and wards", "commune": "Commune / ward",
        "publishable": "Publishable", "diff_city": "Difference from city (points)",
        "change": "Change since the previous year", "change_pp": "Change (percentage points)",
        "change_rel": "Relative change (% of previous value)", "p": "p-value",
        "targets": "Targets", "target": "Target", "gap": "Gap (points)", "status": "Status",
        "source": "Source", "outlook": "Outlook", "method": "Method notes", "validation": "Validation",
        "provenance": "Provenance", "yes": "yes", "no": "no", "city": "City",
        "samples_independent": "The two years are treated as independent samples (drawn separately): "
                               "the SE of the change is sqrt(SE_new² + SE_old²).",
        "samples_joint": "Both years were estimated in one design over the stacked data: the covariance "
                         "from the shared PSUs is included in the SE of the change.",
        "no_previous": "No previous year was given.", "no_targets": "No targets were given.",
        "gain_needed": "To reach {t:g} in {y}, the index must gain {g:+.2f} points per year from {ly} "
                       "({k} year(s) left; SE {s:.2f}).",
        "observed_gain": "Observed so far: {g:+.2f} points per year since {fy}.",
        "projection": "A straight line through the estimates gives {p:.2f} in {y} ({ci}); {b}.",
        "chart_traj": "Index by year with {p}% CI, against the targets", "chart_comm": "Index by commune/ward",
        "chart_comp": "Components", "targets_label": "targets", "estimates_label": "estimates",
        "published_label": "published (no SE)",
    },
    "vi": {
        "title": "Báo cáo chỉ số hạnh phúc", "synthetic": "SỐ LIỆU MÔ PHỎNG",
        "summary": "Tóm tắt", "index": "Chỉ số", "year": "Năm", "estimate": "Ước lượng", "se": "Sai số chuẩn",
        "ci": "KTC {p}%", "df": "Bậc tự do", "n": "Số người trả lời", "level": "Mức", "components": "Các thành phần",
        "component": "Thành phần", "communes": "Các xã, phường", "commune": "Xã / phường",
        "publishable": "Đủ tin cậy để công bố", "diff_city": "Chênh lệch so với thành phố (điểm)",
        "change": "Thay đổi so với năm trước", "change_pp": "Thay đổi (điểm phần trăm)",
        "change_rel": "Thay đổi tương đối (% so với năm trước)", "p": "Giá trị p",
        "targets": "Mục tiêu", "target": "Mục tiêu", "gap": "Chênh lệch (điểm)", "status": "Đánh giá",
        "source": "Nguồn", "outlook": "Triển vọng", "method": "Ghi chú phương pháp", "validation": "Kiểm tra dữ liệu",
        "provenance": "Nguồn gốc kết quả", "yes": "có", "no": "không", "city": "Thành phố",
        "samples_independent": "Hai năm được coi là hai mẫu độc lập (chọn riêng): sai số chuẩn của thay đổi "
                               "là căn bậc hai của SE_mới² + SE_cũ².",
        "samples_joint": "Hai năm được ước lượng trong cùng một thiết kế: hiệp phương sai do dùng chung "
                         "địa bàn mẫu đã được tính vào sai số chuẩn của thay đổi.",
        "no_previous": "Không có số liệu năm trước.", "no_targets": "Không có mục tiêu.",
        "gain_needed": "Để đạt {t:g} vào năm {y}, chỉ số cần tăng {g:+.2f} điểm mỗi năm kể từ {ly} "
                       "(còn {k} năm; SE {s:.2f}).",
        "observed_gain": "Mức tăng quan sát được: {g:+.2f} điểm mỗi năm kể từ {fy}.",
        "projection": "Ngoại suy tuyến tính cho năm {y}: {p:.2f} ({ci}); {b}.",
        "chart_traj": "Chỉ số theo năm (KTC {p}%) so với mục tiêu", "chart_comm": "Chỉ số theo xã, phường",
        "chart_comp": "Các thành phần", "targets_label": "mục tiêu", "estimates_label": "ước lượng",
        "published_label": "số công bố (không có SE)",
    },
}

_STATUS = {
    "reached": {"en": "reached", "vi": "đạt mục tiêu"},
    "not reached": {"en": "not reached", "vi": "chưa đạt mục tiêu"},
    "not distinguishable": {"en": "not distinguishable from the target", "vi": "chưa phân biệt được với mục tiêu"},
    "no estimate": {"en": "no estimate", "vi": "chưa có số liệu"},
    "": {"en": "", "vi": ""},
}


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
    enabled : bool, default True
    """

    def __init__(self, total: int, stream=None, enabled: bool = True, width: int = 24):
        self.total, self.done, self.width = max(int(total), 1), 0, width
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled

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


def _nfc(s) -> str:
    return unicodedata.normalize("NFC", str(s))


def _clean(x):
    """JSON-able copy: NaN/inf -> None, numpy scalars -> Python."""
    if isinstance(x, Mapping):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, (np.bool_, bool)):
        return bool(x)
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        v = float(x)
        return v if math.isfinite(v) else None
    if x is pd.NA or x is None:
        return None
    if isinstance(x, pd.DataFrame):
        return _clean(x.to_dict(orient="records"))
    return x


def _require_rows(data, what: str) -> None:
    """Refuse survey data without rows (a file holding only its header line)."""
    if isinstance(data, pd.DataFrame) and len(data) == 0:
        cols = ", ".join(map(str, list(data.columns)[:5])) + (", ..." if data.shape[1] > 5 else "")
        raise SchemaError(f"the {what} data have no rows: the file holds only a header ({cols or 'no columns'}); "
                          "export the survey again with its data rows")


def _select_year(data: pd.DataFrame, year, what: str):
    """Rows of ``year`` when the data have a ``year`` column; the year found otherwise."""
    if "year" not in data.columns:
        return data, (int(year) if year is not None else None)
    years = pd.to_numeric(data["year"], errors="coerce")
    present = sorted(int(y) for y in pd.unique(years.dropna()))
    if year is None:
        if len(present) == 1:
            return data, present[0]
        raise EstimationError(f"the {what} file holds several years {present} in column 'year'; choose one "
                              "with --year (and --previous-year for the comparison)")
    if int(year) not in present:
        raise EstimationError(f"the {what} file has no rows for year {year}; its years are {present}")
    return data.loc[(years == int(year)).to_numpy()].reset_index(drop=True), int(year)


def _design_for(data, spec, margins, replicates, seed, calibration_method, lonely_psu="fail"):
    from .design import SurveyDesign
    from .weighting import calibrate

    d = spec.design
    design = SurveyDesign(data, weights=d.weights, strata=d.strata, psu=d.psu, fpc=d.fpc, lonely_psu=lonely_psu)
    if replicates:
        design = design.to_replicates("bootstrap", replicates=int(replicates), seed=seed)
    info = None
    if margins:
        design = calibrate(design, margins, method=calibration_method)
        info = getattr(design, "calibration_info", None)
    return design, info


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
    from . import __version__
    from .index import compute_index
    from .schema import validate_survey
    from .trajectory import Trajectory, compare

    prog = progress or Progress(6, enabled=False)
    _require_rows(survey, "survey")
    data, year = _select_year(survey, year, "survey")
    rep = validate_survey(data, spec, frame)
    prog.step("validated" if rep.ok else "validation failed")
    if not rep.ok:
        rep.raise_if_errors()
    clean = rep.data
    design, cal = _design_for(clean, spec, margins, replicates, seed, calibration_method, lonely_psu)
    prog.step("weighted" + (f" ({replicates} bootstrap replicates)" if replicates else ""))
    result = compute_index(clean, spec, design=design, by="commune" if spec.design.commune else None,
                           level=level, seed=seed)
    prog.step("index computed")

    prev_result = prev_rep = None
    prev_year = previous_year
    if previous is not None:
        if isinstance(previous, Mapping):
            prev_result = previous.get("index", previous)
            prev_year = prev_year or previous.get("year")
        else:
            _require_rows(previous, "previous")
            pdata, prev_year = _select_year(previous, previous_year, "previous")
            prev_rep = validate_survey(pdata, spec, frame)
            if not prev_rep.ok:
                prev_rep.raise_if_errors()
            pdesign, _ = _design_for(prev_rep.data, spec, margins, replicates, seed, calibration_method,
                                     lonely_psu)
            prev_result = compute_index(prev_rep.data, spec, design=pdesign,
                                        by="commune" if spec.design.commune else None, level=level, seed=seed)
    elif previous_year is not None and "year" in survey.columns:
        return run_annual(survey, spec, frame=frame, margins=margins, previous=survey, targets=targets,
                          year=year, previous_year=previous_year, replicates=replicates, seed=seed, level=level,
                          calibration_method=calibration_method, progress=progress, inputs=inputs,
                          synthetic=synthetic, lonely_psu=lonely_psu)
    elif previous_year is not None:
        raise EstimationError(f"previous year {previous_year} given, but no previous data and the survey has no "
                              "'year' column; pass the previous year's file (--previous)")
    prog.step("previous year computed" if prev_result is not None else "no previous year")

    change = None
    if prev_result is not None:
        labels = (str(year) if year else "this year", str(prev_year) if prev_year else "previous year")
        change = compare(result, prev_result, labels=labels, level=level)

    traj = None
    if targets is not None:
        traj = targets if isinstance(targets, Trajectory) else Trajectory(targets)
    elif spec.targets:
        traj = Trajectory.from_spec(spec)
    assessment = None
    if traj is not None and year is not None:
        res = {year: result}
        if prev_result is not None and prev_year is not None:
            res[int(prev_year)] = prev_result
        assessment = traj.assess(res, level=level)
    prog.step("compared and assessed")

    results = _results_dict(spec, result, prev_result, change, assessment, rep, cal, year, prev_year, level,
                            replicates, seed, inputs, synthetic, __version__)
    results["provenance"]["lonely_psu"] = lonely_psu
    if lonely_psu != "fail":
        results["method_notes"].append(
            f"Strata with a single PSU: lonely_psu = '{lonely_psu}' (R's survey.lonely.psu); it changes "
            "standard errors only, never the estimates.")
    return AnnualRun(results=results, result=result, previous_result=prev_result, change=change,
                     assessment=assessment, validation=rep)


def _file_hash(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _est(e) -> dict:
    return {"estimate": e.estimate, "se": e.se, "ci_low": e.ci_low, "ci_high": e.ci_high, "df": e.df,
            "level": e.level, "ci_method": e.ci_method, "n": e.n}


def _results_dict(spec, result, prev_result, change, assessment, rep, cal, year, prev_year, level,
                  replicates, seed, inputs, synthetic, version) -> dict:
    from .datasets import SYNTHETIC_NOTICE

    comps = []
    for e in result.components:
        c = spec.component(e.name)
        comps.append({"name": e.name, "label_vi": c.labels.vi, "label_en": c.labels.en, **_est(e)})
    communes = []
    if result.by_group is not None:
        f = result.by_group.to_frame()
        key = f.columns[0]
        for _, r in f.iterrows():
            communes.append({"commune": _nfc(r[key]), "estimate": r["estimate"], "se": r["se"],
                             "ci_low": r["ci_low"], "ci_high": r["ci_high"], "df": r["df"], "n": r["n"],
                             "cv": r["cv"], "publishable": bool(r["publishable"]), "reason": r["reason"],
                             "diff_city_pp": r["diff_city_pp"], "diff_se": r["diff_se"],
                             **{k: r[k] for k in f.columns if k.startswith("component_")}})
    prev = None
    if prev_result is not None:
        if hasattr(prev_result, "overall"):
            prev = {"year": prev_year, **_est(prev_result.overall),
                    "provenance": prev_result.provenance}
        else:
            prev = {"year": prev_year, **{k: prev_result.get(k) for k in ("estimate", "se", "ci_low", "ci_high", "df")}}
    o = result.overall
    lvl = result.level
    prov = dict(result.provenance)
    prov.update({"library_version": version, "seed": seed, "replicates": replicates,
                 "inputs": {k: {"file": Path(p).name, "sha256": _file_hash(p)} for k, p in (inputs or {}).items()}})
    notes = [
        f"Index: {spec.labels.en} ({spec.preset}, formula {spec.formula or spec.implied_formula()}), scale {spec.scale}.",
        f"Variance: {result.variance_method}; intervals: {result.ci_scale}.",
        "Domains (communes/wards) are estimated on the full design, never by dropping rows.",
        "Changes are in percentage points (new - old); relative change is 100 (new/old - 1), labelled separately.",
        "Target status: 'reached' when the whole interval is at or above the target, 'not reached' when it is "
        "below, otherwise 'not distinguishable' (one-sided tests at (1 - level)/2 each).",
    ]
    if cal:
        notes.append(f"Weights calibrated ({cal.get('method', '')}) to the margins given; "
                     f"converged: {cal.get('converged')}.")
    out = {
        "title": {"vi": spec.labels.vi, "en": spec.labels.en},
        "synthetic": bool(synthetic),
        "notice": SYNTHETIC_NOTICE if synthetic else None,
        "year": year,
        "previous_year": prev_year,
        "domain_column": spec.design.commune,
        "level": level,
        "index": {**_est(o), "level_band": None if lvl is None else {"vi": lvl.labels.vi, "en": lvl.labels.en}},
        "components": comps,
        "communes": communes,
        "previous": prev,
        "change": None if change is None else change.to_dict(),
        "targets": None if assessment is None else assessment.to_dict(),
        "validation": {"ok": rep.ok, "n_rows": rep.n_rows, "coercions": int(len(rep.coercions))},
        "weighting": None if not cal else {k: v for k, v in cal.items() if not isinstance(v, pd.DataFrame)},
        "method_notes": notes,
        "provenance": prov,
    }
    return _clean(out)


# ---------------------------------------------------------------------------------------
# rendering helpers
# ---------------------------------------------------------------------------------------
def _f(x, nd=2, sign=False) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    return f"{x:+.{nd}f}" if sign else f"{x:.{nd}f}"


def _ci(d, nd=2) -> str:
    if d.get("ci_low") is None:
        return "—"
    return f"{_f(d['ci_low'], nd)} – {_f(d['ci_high'], nd)}"


def _tables(results: dict, lang: str) -> dict[str, pd.DataFrame]:
    """The report's tables as DataFrames (also written as CSV and xlsx)."""
    idx = results["index"]
    rows = [{"scope": "city", "year": results.get("year"), **{k: idx.get(k) for k in
                                                               ("estimate", "se", "ci_low", "ci_high", "df", "n")}}]
    if results.get("previous"):
        p = results["previous"]
        rows.append({"scope": "city (previous year)", "year": p.get("year"),
                     **{k: p.get(k) for k in ("estimate", "se", "ci_low", "ci_high", "df", "n")}})
    t = {"index": pd.DataFrame(rows),
         "components": pd.DataFrame(results["components"]),
         "communes": pd.DataFrame(results["communes"])}
    ch = results.get("change") or {}
    t["change_communes"] = pd.DataFrame(ch.get("by_group") or [])
    tg = results.get("targets") or {}
    t["targets"] = pd.DataFrame(tg.get("years") or [])
    return t


def render_markdown(results: dict, lang: str = "vi") -> str:
    """The report as Markdown (tables with ``|``; data strings have ``|`` escaped)."""
    T = TEXT[lang]
    L = results["level"]
    pct = f"{100 * L:g}"

    def cell(s) -> str:
        return str(s).replace("|", "\\|").replace("\n", " ")

    lines = []
    title = results["title"][lang] or results["title"]["en"]
    lines.append(f"# {cell(T['title'])}: {cell(title)}")
    if results.get("synthetic"):
        lines += ["", f"> **{cell(results['notice'][lang])}**"]
    idx = results["index"]
    lines += ["", f"## {T['summary']}", ""]
    band = idx.get("level_band")
    lines.append(f"- {T['index']} {results.get('year') or ''}: **{_f(idx['estimate'])}** "
                 f"({T['ci'].format(p=pct)}: {_ci(idx)}; {T['se']} {_f(idx['se'])}; {T['n']} {idx.get('n')})")
    if band:
        lines.append(f"- {T['level']}: {cell(band[lang])}")
    ch = results.get("change")
    if ch:
        lines.append(f"- {T['change_pp']}: **{_f(ch['change_pp'], sign=True)}** ({T['ci'].format(p=pct)}: "
                     f"{_f(ch['ci_low'], sign=True)} – {_f(ch['ci_high'], sign=True)}; {T['p']} {_f(ch['p_value'], 3)})")
        lines.append(f"- {T['change_rel']}: {_f(ch['change_rel_pct'], sign=True)}% "
                     f"({T['ci'].format(p=pct)}: {_f(ch['ci_rel_low'], sign=True)}% – {_f(ch['ci_rel_high'], sign=True)}%)")
    lines += ["", f"![{T['chart_traj'].format(p=pct)}](chart_trajectory.png)", ""]

    lines += [f"## {T['components']}", "", f"| {T['component']} | {T['estimate']} | {T['se']} | {T['ci'].format(p=pct)} |",
              "|---|---:|---:|---:|"]
    for c in results["components"]:
        lines.append(f"| {cell(c['label_' + lang] or c['name'])} | {_f(c['estimate'])} | {_f(c['se'])} | {_ci(c)} |")
    lines += ["", "![components](chart_components.png)", ""]

    if results["communes"]:
        lines += [f"## {_domains_heading(results, lang)}", "",
                  f"| {T['commune']} | {T['estimate']} | {T['ci'].format(p=pct)} | {T['diff_city']} | {T['n']} | {T['publishable']} |",
                  "|---|---:|---:|---:|---:|:---:|"]
        for c in sorted(results["communes"], key=lambda r: -(r["estimate"] or -1e9)):
            lines.append(f"| {cell(c['commune'])} | {_f(c['estimate'])} | {_ci(c)} | {_f(c['diff_city_pp'], sign=True)} | "
                         f"{c['n']} | {T['yes'] if c['publishable'] else T['no'] + ' ' + cell(c['reason'] or '')} |")
        lines += ["", "![communes](chart_communes.png)", ""]

    lines += [f"## {T['change']}", ""]
    if ch:
        lines.append(T["samples_joint"] if ch["samples"] == "joint" else T["samples_independent"])
        lines.append("")
        lines.append(f"{ch['old_label']}: {_f(ch['old'])} → {ch['new_label']}: {_f(ch['new'])}; "
                     f"{T['change_pp']} {_f(ch['change_pp'], sign=True)} ({T['se']} {_f(ch['se'])}); "
                     f"{T['change_rel']} {_f(ch['change_rel_pct'], sign=True)}%")
        if ch.get("by_group"):
            lines += ["", f"| {T['commune']} | {ch['old_label']} | {ch['new_label']} | {T['change_pp']} | "
                          f"{T['ci'].format(p=pct)} | {T['p']} |", "|---|---:|---:|---:|---:|---:|"]
            key = next(iter(ch["by_group"][0]))
            for r in ch["by_group"]:
                lines.append(f"| {cell(r[key])} | {_f(r['old'])} | {_f(r['new'])} | {_f(r['change_pp'], sign=True)} | "
                             f"{_f(r['ci_low'], sign=True)} – {_f(r['ci_high'], sign=True)} | {_f(r['p_value'], 3)} |")
    else:
        lines.append(T["no_previous"])
    lines += ["", f"## {T['targets']}", ""]
    tg = results.get("targets")
    if tg:
        lines += [f"| {T['year']} | {T['target']} | {T['estimate']} | {T['ci'].format(p=pct)} | {T['gap']} | {T['status']} | {T['source']} |",
                  "|---|---:|---:|---:|---:|---|---|"]
        for r in tg["years"]:
            lines.append(f"| {r['year']} | {_f(r['target'])} | {_f(r['estimate'])} | {_ci(r)} | {_f(r['gap_pp'], sign=True)} | "
                         f"{cell(_STATUS.get(r['status'], {lang: r['status']})[lang])} | {cell(r['target_source'] or '')} |")
        lines += ["", f"### {T['outlook']}", ""] + [f"- {cell(s)}" for s in _outlook_lines(tg["outlook"], lang, pct)]
    else:
        lines.append(T["no_targets"])
    lines += ["", f"## {T['method']}", ""] + [f"- {cell(n)}" for n in results["method_notes"]]
    prov = results["provenance"]
    lines += ["", f"## {T['provenance']}", "",
              f"- spec: {cell(prov.get('spec_name'))} {cell(prov.get('spec_version'))} (sha256 {prov.get('spec_hash')})",
              f"- data sha256: {prov.get('data_hash')}", f"- library version: {prov.get('library_version')}",
              f"- seed: {prov.get('seed')}; replicates: {prov.get('replicates')}"]
    for k, v in (prov.get("inputs") or {}).items():
        lines.append(f"- {cell(k)}: {cell(v['file'])} (sha256 {v['sha256']})")
    return "\n".join(lines) + "\n"


def _domains_heading(results: dict, lang: str) -> str:
    col = results.get("domain_column")
    if col in (None, "commune"):
        return TEXT[lang]["communes"]
    return ("Domains" if lang == "en" else "Nhóm") + f": {col}"


def _outlook_lines(o: dict, lang: str, pct: str) -> list[str]:
    T = TEXT[lang]
    out = []
    if o.get("gain_needed_pp_per_year") is not None:
        out.append(T["gain_needed"].format(t=o["last_target"], y=o["last_target_year"], g=o["gain_needed_pp_per_year"],
                                           ly=o["latest_year"], k=o["years_left"], s=o.get("gain_needed_se") or float("nan")))
    if o.get("observed_gain_pp_per_year") is not None:
        out.append(T["observed_gain"].format(g=o["observed_gain_pp_per_year"], fy=o["observed_from"]))
    if o.get("projection") is not None:
        ci = (f"{T['ci'].format(p=pct)} {_f(o['projection_ci_low'])} – {_f(o['projection_ci_high'])}"
              if o.get("projection_se") is not None else "—")
        out.append(T["projection"].format(p=o["projection"], y=o["projection_year"], ci=ci, b=o["projection_basis"]))
    return out


def render_html(results: dict, lang: str = "vi") -> str:
    """The report as a self-contained HTML page (UTF-8; every data string escaped)."""
    T = TEXT[lang]
    L = results["level"]
    pct = f"{100 * L:g}"
    e = html.escape

    def table(head: list[str], rows: list[list[str]], num_from: int = 1) -> str:
        h = "".join(f"<th>{e(x)}</th>" for x in head)
        body = "".join("<tr>" + "".join(f"<td class='{'num' if i >= num_from else 'txt'}'>{e(str(c))}</td>"
                                        for i, c in enumerate(r)) + "</tr>" for r in rows)
        return f"<table><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>"

    title = results["title"][lang] or results["title"]["en"]
    parts = [f"<!DOCTYPE html><html lang='{lang}'><head><meta charset='utf-8'>",
             "<meta name='viewport' content='width=device-width, initial-scale=1'>",
             f"<title>{e(T['title'])}: {e(title)}</title>",
             "<style>body{font-family:'DejaVu Sans','Noto Sans',Arial,sans-serif;max-width:1100px;margin:2em auto;"
             "padding:0 1em;color:#222}table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #bbb;"
             "padding:4px 8px}th{background:#eef}td.num{text-align:right}.banner{background:#fff3cd;border:2px "
             "solid #d39e00;padding:.8em;font-weight:bold}.big{font-size:2em;font-weight:bold}img{max-width:100%}"
             "</style></head><body>",
             f"<h1>{e(T['title'])}: {e(title)}</h1>"]
    if results.get("synthetic"):
        parts.append(f"<p class='banner'>{e(results['notice'][lang])}</p>")
    idx = results["index"]
    band = idx.get("level_band")
    parts.append(f"<h2>{e(T['summary'])}</h2><p><span class='big'>{e(_f(idx['estimate']))}</span> "
                 f"({e(T['index'])} {e(str(results.get('year') or ''))}; {e(T['ci'].format(p=pct))}: {e(_ci(idx))}; "
                 f"{e(T['se'])} {e(_f(idx['se']))}; {e(T['n'])} {e(str(idx.get('n')))})</p>")
    if band:
        parts.append(f"<p>{e(T['level'])}: {e(band[lang])}</p>")
    ch = results.get("change")
    if ch:
        parts.append(f"<p>{e(T['change_pp'])}: <b>{e(_f(ch['change_pp'], sign=True))}</b> ({e(T['ci'].format(p=pct))} "
                     f"{e(_f(ch['ci_low'], sign=True))} – {e(_f(ch['ci_high'], sign=True))}; {e(T['p'])} "
                     f"{e(_f(ch['p_value'], 3))}). {e(T['change_rel'])}: {e(_f(ch['change_rel_pct'], sign=True))}%.</p>")
    parts.append(f"<img src='chart_trajectory.png' alt='{e(T['chart_traj'].format(p=pct))}'>")
    parts.append(f"<h2>{e(T['components'])}</h2>")
    parts.append(table([T["component"], T["estimate"], T["se"], T["ci"].format(p=pct)],
                       [[c["label_" + lang] or c["name"], _f(c["estimate"]), _f(c["se"]), _ci(c)]
                        for c in results["components"]]))
    parts.append(f"<img src='chart_components.png' alt='{e(T['chart_comp'])}'>")
    if results["communes"]:
        parts.append(f"<h2>{e(_domains_heading(results, lang))}</h2>")
        rows = [[c["commune"], _f(c["estimate"]), _ci(c), _f(c["diff_city_pp"], sign=True), c["n"],
                 T["yes"] if c["publishable"] else f"{T['no']} {c['reason'] or ''}"]
                for c in sorted(results["communes"], key=lambda r: -(r["estimate"] or -1e9))]
        parts.append(table([T["commune"], T["estimate"], T["ci"].format(p=pct), T["diff_city"], T["n"],
                            T["publishable"]], rows))
        parts.append(f"<img src='chart_communes.png' alt='{e(T['chart_comm'])}'>")
    parts.append(f"<h2>{e(T['change'])}</h2>")
    if ch:
        parts.append(f"<p>{e(T['samples_joint'] if ch['samples'] == 'joint' else T['samples_independent'])}</p>")
        parts.append(table([T["year"], T["estimate"], T["se"]],
                           [[ch["old_label"], _f(ch["old"]), _f(ch["old_se"])],
                            [ch["new_label"], _f(ch["new"]), _f(ch["new_se"])]]))
        if ch.get("by_group"):
            key = next(iter(ch["by_group"][0]))
            parts.append(table([T["commune"], ch["old_label"], ch["new_label"], T["change_pp"], T["ci"].format(p=pct),
                                T["change_rel"], T["p"]],
                               [[r[key], _f(r["old"]), _f(r["new"]), _f(r["change_pp"], sign=True),
                                 f"{_f(r['ci_low'], sign=True)} – {_f(r['ci_high'], sign=True)}",
                                 _f(r["change_rel_pct"], sign=True) + "%", _f(r["p_value"], 3)] for r in ch["by_group"]]))
    else:
        parts.append(f"<p>{e(T['no_previous'])}</p>")
    parts.append(f"<h2>{e(T['targets'])}</h2>")
    tg = results.get("targets")
    if tg:
        parts.append(table([T["year"], T["target"], T["estimate"], T["ci"].format(p=pct), T["gap"], T["status"],
                            T["source"]],
                           [[r["year"], _f(r["target"]), _f(r["estimate"]), _ci(r), _f(r["gap_pp"], sign=True),
                             _STATUS.get(r["status"], {lang: r["status"]})[lang], r["target_source"] or ""]
                            for r in tg["years"]]))
        parts.append("<ul>" + "".join(f"<li>{e(s)}</li>" for s in _outlook_lines(tg["outlook"], lang, pct)) + "</ul>")
    else:
        parts.append(f"<p>{e(T['no_targets'])}</p>")
    parts.append(f"<h2>{e(T['method'])}</h2><ul>" + "".join(f"<li>{e(n)}</li>" for n in results["method_notes"]) + "</ul>")
    prov = results["provenance"]
    items = [f"spec: {prov.get('spec_name')} {prov.get('spec_version')} (sha256 {prov.get('spec_hash')})",
             f"data sha256: {prov.get('data_hash')}", f"library version: {prov.get('library_version')}",
             f"seed: {prov.get('seed')}; replicates: {prov.get('replicates')}"]
    items += [f"{k}: {v['file']} (sha256 {v['sha256']})" for k, v in (prov.get("inputs") or {}).items()]
    parts.append(f"<h2>{e(T['provenance'])}</h2><ul>" + "".join(f"<li>{e(s)}</li>" for s in items) + "</ul>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


# ---------------------------------------------------------------------------------------
# charts
# ---------------------------------------------------------------------------------------
def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams["font.family"] = "DejaVu Sans"  # has the Vietnamese diacritics
    plt.rcParams["svg.hashsalt"] = "happiness_index"
    return plt


def _save(fig, path: Path) -> None:
    fig.savefig(path, dpi=110, bbox_inches="tight", metadata={"Software": None})


def plot_trajectory(results: dict, path, lang: str = "vi") -> None:
    """Index by year with CI bars, against the targets (dashed); published figures hollow."""
    plt = _plt()
    T = TEXT[lang]
    pct = f"{100 * results['level']:g}"
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    tg = results.get("targets")
    pts = []
    if tg:
        ty = [(r["year"], r["target"]) for r in tg["years"] if r["target"] is not None]
        if ty:
            ax.plot(*zip(*ty), "s--", color="#c0392b", label=T["targets_label"])
            for y, v in ty:
                ax.annotate(f"{v:g}", (y, v), textcoords="offset points", xytext=(6, 4), color="#c0392b", fontsize=8)
        pts = [(r["year"], r["estimate"], r["ci_low"], r["ci_high"]) for r in tg["years"] if r["estimate"] is not None]
    if not pts:
        idx = results["index"]
        pts = [(results.get("year") or 0, idx["estimate"], idx["ci_low"], idx["ci_high"])]
        if results.get("previous"):
            p = results["previous"]
            pts.insert(0, (p.get("year") or 0, p["estimate"], p.get("ci_low"), p.get("ci_high")))
    for y, v, lo, hi in pts:
        if lo is None:
            ax.plot([y], [v], "o", mfc="white", color="#1f4e79", label=T["published_label"])
        else:
            ax.errorbar([y], [v], yerr=[[v - lo], [hi - v]], fmt="o", color="#1f4e79", capsize=4)
            ax.annotate(f"{v:.1f}", (y, v), textcoords="offset points", xytext=(-28, -4), fontsize=8, color="#1f4e79")
    ax.errorbar([], [], yerr=[], fmt="o", color="#1f4e79", capsize=4, label=f"{T['estimates_label']} ({T['ci'].format(p=pct)})")
    years = sorted({int(p[0]) for p in pts} | ({int(r['year']) for r in tg['years']} if tg else set()))
    ax.set_xticks(years)
    ax.set_xlabel(T["year"])
    ax.set_ylabel(T["index"] + " (%)")
    ax.set_title(T["chart_traj"].format(p=pct))
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    uniq = dict(zip(labels, handles))
    ax.legend(uniq.values(), uniq.keys(), loc="best", fontsize=8)
    _save(fig, Path(path))
    plt.close(fig)


def plot_communes(results: dict, path, lang: str = "vi") -> None:
    """Commune estimates with CIs, sorted; the city estimate as a vertical line."""
    plt = _plt()
    T = TEXT[lang]
    rows = sorted(results["communes"], key=lambda r: r["estimate"] if r["estimate"] is not None else -1e9)
    fig, ax = plt.subplots(figsize=(7.5, 0.32 * max(len(rows), 3) + 1.2))
    if rows:
        y = np.arange(len(rows))
        v = np.array([r["estimate"] if r["estimate"] is not None else np.nan for r in rows], dtype=float)
        lo = np.array([r["ci_low"] if r["ci_low"] is not None else np.nan for r in rows], dtype=float)
        hi = np.array([r["ci_high"] if r["ci_high"] is not None else np.nan for r in rows], dtype=float)
        colors = ["#1f4e79" if r["publishable"] else "#999999" for r in rows]
        ax.hlines(y, lo, hi, colors=colors)
        ax.scatter(v, y, c=colors, zorder=3)
        ax.set_yticks(y)
        ax.set_yticklabels([r["commune"] for r in rows])
        ax.axvline(results["index"]["estimate"], color="#c0392b", ls="--", label=T["city"])
        ax.legend(fontsize=8, loc="lower right")
    pct = f"{100 * results['level']:g}"
    ax.set_xlabel(T["index"] + " (%), " + T["ci"].format(p=pct))
    ax.set_title(T["chart_comm"])
    ax.grid(axis="x", alpha=0.3)
    _save(fig, Path(path))
    plt.close(fig)


def plot_components(results: dict, path, lang: str = "vi") -> None:
    """Component estimates with CI bars."""
    plt = _plt()
    T = TEXT[lang]
    comps = results["components"]
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    x = np.arange(len(comps))
    v = np.array([c["estimate"] for c in comps], dtype=float)
    lo = np.array([c["ci_low"] if c["ci_low"] is not None else np.nan for c in comps], dtype=float)
    hi = np.array([c["ci_high"] if c["ci_high"] is not None else np.nan for c in comps], dtype=float)
    ax.bar(x, v, color="#5b9bd5")
    ax.errorbar(x, v, yerr=[v - lo, hi - v], fmt="none", color="black", capsize=5)
    for i, val in enumerate(v):
        ax.annotate(f"{val:.1f}", (i, val), textcoords="offset points", xytext=(8, 2), fontsize=8)
    ax.set_xticks(x)
    ax.set_xticklabels([c["label_" + lang] or c["name"] for c in comps], fontsize=8)
    ax.set_ylabel("%")
    ax.set_title(T["chart_comp"])
    ax.grid(axis="y", alpha=0.3)
    _save(fig, Path(path))
    plt.close(fig)


# ---------------------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------------------
def _is_report_dir(p: Path) -> bool:
    return p.is_dir() and (not any(p.iterdir()) or (p / "results.json").is_file())


def write_report(results: dict, out_dir, lang: str = "vi", *, protect=()) -> list[Path]:
    """Write the report directory atomically.

    Parameters
    ----------
    results : dict
        From :attr:`AnnualRun.results` (or a ``results.json`` read back).
    out_dir : path
        The report directory. It may not exist yet, or be empty, or be an earlier report
        (holding ``results.json``), which is then replaced as a whole.
    lang : {"vi", "en"}, default "vi"
    protect : iterable of paths
        Input files: the run refuses to write a directory containing any of them.

    Returns
    -------
    list of Path
        The files written (in their final place).

    Raises
    ------
    HappinessIndexError
        ``out_dir`` is a file, a non-empty directory that is not an earlier report, or
        contains an input file; ``lang`` unknown.
    OSError
        The directory cannot be written (permissions, full disk); ``filename`` is
        ``out_dir`` (never the temporary directory), and nothing is left behind.
    """
    if lang not in TEXT:
        raise HappinessIndexError(f"lang must be 'vi' or 'en', got {lang!r}")
    out = Path(out_dir).resolve()
    if out.exists() and not out.is_dir():
        raise HappinessIndexError(f"--out {out} is a file; give a directory for the report")
    for p in protect:
        pp = Path(p).resolve()
        if pp == out or out in pp.parents:
            raise HappinessIndexError(f"--out {out} contains the input file {pp}; choose another directory "
                                      "(an input file is never overwritten)")
    if out.exists() and not _is_report_dir(out):
        raise HappinessIndexError(f"--out {out} is a non-empty directory that is not an earlier report "
                                  "(no results.json); choose a new or empty directory")
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    try:
        _write_atomically(results, out, tmp, lang)
    except OSError as e:
        # the user asked for ``out``: name it, never the temporary directory next to it
        raise OSError(e.errno, e.strerror or str(e), str(out)) from None
    return [out / n for n in REPORT_FILES]


def _write_atomically(results: Mapping, out: Path, tmp: Path, lang: str) -> None:
    """Write every report file into ``tmp``, then rename it to ``out`` (replacing an earlier report)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        (tmp / "results.json").write_text(json.dumps(results, ensure_ascii=False, indent=2, allow_nan=False) + "\n",
                                          encoding="utf-8")
        (tmp / "report.md").write_text(render_markdown(results, lang), encoding="utf-8")
        (tmp / "report.html").write_text(render_html(results, lang), encoding="utf-8")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            plot_trajectory(results, tmp / "chart_trajectory.png", lang)
            plot_communes(results, tmp / "chart_communes.png", lang)
            plot_components(results, tmp / "chart_components.png", lang)
        tables = _tables(results, lang)
        for name, df in tables.items():
            df.to_csv(tmp / f"{name}.csv", index=False, encoding="utf-8-sig")
        with pd.ExcelWriter(tmp / "tables.xlsx", engine="openpyxl") as xw:
            for name, df in tables.items():
                (df if len(df.columns) else pd.DataFrame({"(empty)": []})).to_excel(xw, sheet_name=name[:31], index=False)
        old = None
        if out.exists():
            old = out.parent / f".{out.name}.old-{os.getpid()}"
            out.rename(old)
        tmp.rename(out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise

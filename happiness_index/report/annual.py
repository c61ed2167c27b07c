"""The annual main job and its report: tables, charts, Markdown/HTML in Vietnamese and English.

:func:`run_annual` does the statistics office's yearly job on data already read into
DataFrames: validate -> weight (calibrate when margins are given; bootstrap replicates when
asked) -> compute the index with intervals for the city and every commune/ward -> compare
with the previous year -> assess against the targets. It returns an :class:`AnnualRun`
whose ``results`` is a plain JSON-able dict: every number the report shows, with
provenance (spec hash, data hashes, library version, seed).

:func:`write_report` turns that dict into a report directory, atomically (everything is
written into a temporary directory next to the target, then swapped into place; only an earlier report
of this program is ever replaced, see :mod:`happiness_index.report.outputs`):

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
import sys
import unicodedata
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import EstimationError, HappinessIndexError, SchemaError
from ..index.composite import to_jsonable as _clean

__all__ = ["run_annual", "AnnualRun", "write_report", "render_markdown", "render_html", "plot_trajectory",
           "plot_communes", "plot_components", "Progress", "REPORT_FILES", "TEXT", "vi_sort_key", "summary_lines"]

#: Files written by :func:`write_report` (the tables also go to ``tables.xlsx``).
REPORT_FILES = ("report.md", "report.html", "results.json", "chart_trajectory.png", "chart_communes.png",
                "chart_components.png", "index.csv", "components.csv", "communes.csv", "change_communes.csv",
                "targets.csv", "tables.xlsx")

TEXT = {
    "en": {
        "title": "Happiness index report", "synthetic": "SYNTHETIC DATA",
        "summary": "Summary", "index": "Index", "year": "Year", "estimate": "Estimate", "se": "SE",
        "ci": "{p}% CI", "df": "df", "n": "Respondents", "level": "Happiness band", "components": "Components",
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
        "chart_traj": "Index by year with {p}% CI, against the targets",
        "chart_years": "Index by year with {p}% CI", "chart_comm": "Index by {d}",
        "chart_comp": "Components", "targets_label": "targets",
        "estimates_label": "estimates",
        "published_label": "published (no SE)", "by_domain": "Index by {d}", "pub_label": "publishable", "notpub_label": "not publishable (see the table)",
        "diff_pop": "Difference from {pop} (points)", "none": "none", "taylor": "none (Taylor linearisation)",
        "spec": "spec", "data_hash": "data sha256", "library": "library version", "seed": "seed",
        "replicates": "replicates", "roles": {"survey": "survey", "previous": "previous year", "frame": "frame",
                                              "margins": "margins"},
        "not_publishable_n": "{k} of {n} not publishable", "see_reasons": " (reasons in the report)",
    },
    "vi": {
        "title": "Báo cáo chỉ số hạnh phúc", "synthetic": "SỐ LIỆU MÔ PHỎNG",
        "summary": "Tóm tắt", "index": "Chỉ số", "year": "Năm", "estimate": "Ước lượng", "se": "Sai số chuẩn",
        "ci": "KTC {p}%", "df": "Bậc tự do", "n": "Số người trả lời", "level": "Mức hạnh phúc", "components": "Các thành phần",
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
        "chart_traj": "Chỉ số theo năm (KTC {p}%) so với mục tiêu",
        "chart_years": "Chỉ số theo năm (KTC {p}%)", "chart_comm": "Chỉ số theo {d}",
        "chart_comp": "Các thành phần", "targets_label": "mục tiêu",
        "estimates_label": "ước lượng",
        "published_label": "số công bố (không có SE)", "by_domain": "Chỉ số theo {d}", "pub_label": "đủ tin cậy để công bố",
        "notpub_label": "không đủ tin cậy để công bố (xem bảng)",
        "diff_pop": "Chênh lệch so với {pop} (điểm)", "none": "không có", "taylor": "không (tuyến tính hóa Taylor)",
        "spec": "đặc tả", "data_hash": "mã băm dữ liệu (sha256)", "library": "phiên bản thư viện",
        "seed": "hạt giống ngẫu nhiên (seed)", "replicates": "số bộ trọng số lặp",
        "roles": {"survey": "khảo sát", "previous": "năm trước", "frame": "dàn mẫu", "margins": "tổng biên"},
        "not_publishable_n": "{k}/{n} không đủ tin cậy để công bố", "see_reasons": " (lý do trong báo cáo)",
    },
}

_STATUS = {
    "reached": {"en": "reached", "vi": "đạt mục tiêu"},
    "not reached": {"en": "not reached", "vi": "chưa đạt mục tiêu"},
    "not distinguishable": {"en": "not distinguishable from the target", "vi": "chưa phân biệt được với mục tiêu"},
    "no estimate": {"en": "no estimate", "vi": "chưa có số liệu"},
    "": {"en": "", "vi": ""},
}

#: Vietnamese wording of the projection bases written by :meth:`Trajectory.assess`.
_BASIS_VI = {
    "straight line through the yearly estimates (weighted by 1/SE^2); uncertainty = sampling error of the "
    "estimates only, years independent; the straight line itself is an assumption":
        "đường thẳng qua các ước lượng hằng năm (trọng số 1/SE²); độ bất định chỉ gồm sai số chọn mẫu của các "
        "ước lượng, các năm độc lập; bản thân giả định đường thẳng chưa được tính",
    "straight line through published values without SE; uncertainty from their scatter around the line "
    "(regression prediction of the mean, df = years - 2)":
        "đường thẳng qua các số công bố không có SE; độ bất định từ độ phân tán quanh đường thẳng (dự báo trung "
        "bình của hồi quy, bậc tự do = số năm - 2)",
    "two values without SE: a straight line through them has no measurable uncertainty":
        "hai giá trị không có SE: không đo được độ bất định của đường thẳng qua chúng",
}

#: English phrase -> Vietnamese, for the variance and interval descriptions of compute_index.
_PHRASES_VI = (
    ("Taylor linearisation (delta method on the joint covariance of the totals)",
     "tuyến tính hóa Taylor (phương pháp delta trên hiệp phương sai đồng thời của các tổng)"),
    ("replicate weights (", "trọng số lặp ("), (" replicates; ", " bộ lặp; "),
    ("index re-computed on every replicate)", "chỉ số được tính lại trên từng bộ lặp)"),
    ("delta method with the replicate covariance of the item shares)",
     "phương pháp delta với hiệp phương sai lặp của tỷ lệ từng câu hỏi)"),
    ("log scale (the index is positive and unbounded above)", "thang log (chỉ số dương, không bị chặn trên)"),
    ("logit scale on", "thang logit trên"), ("(the index is bounded)", "(chỉ số bị chặn)"),
    ("identity (Wald) scale", "thang đồng nhất (Wald)"), (", back-transformed", ", biến đổi ngược"),
    ("t quantile on", "phân vị t với"), ("design degrees of freedom", "bậc tự do của thiết kế"),
)


def _to_vi(text: str) -> str:
    for en, vi in _PHRASES_VI:
        text = text.replace(en, vi)
    return text


def vi_sort_key(s) -> tuple:
    """Sort key for Vietnamese names: base letters first, then the exact string.

    NFD decomposition, combining marks (tones, circumflex, breve, horn) removed, ``Đ``/``đ``
    mapped to ``D``/``d``, then casefolded; ties are broken by the NFC string, so the order
    is total and stable. ``sorted(["Đồng Tâm", "Âu Lâu", "Bắc"], key=vi_sort_key)`` gives
    ``["Âu Lâu", "Bắc", "Đồng Tâm"]`` (code-point order would put Â and Đ after Z).
    """
    t = _nfc(s)
    base = unicodedata.normalize("NFD", t.replace("Đ", "D").replace("đ", "d"))
    base = "".join(ch for ch in base if not unicodedata.combining(ch)).casefold()
    return (base, t)


def _labels(results: Mapping, lang: str) -> tuple[str, str]:
    """(domain label, population label) in ``lang``: from the spec, else generic defaults."""
    dl = results.get("domain_label") or {}
    pl = results.get("population_label") or {}
    col = results.get("domain_column")
    dflt_d = {"vi": "Xã / phường", "en": "Commune / ward"} if col in (None, "commune") else {"vi": col, "en": col}
    return (dl.get(lang) or dflt_d[lang]), (pl.get(lang) or {"vi": "toàn bộ", "en": "overall"}[lang])


def _lower_first(s: str) -> str:
    return s[:1].lower() + s[1:] if s and not s[:2].isupper() else s


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
    """

    def __init__(self, total: int, stream=None, enabled: bool | None = True, width: int = 24):
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


def _nfc(s) -> str:
    return unicodedata.normalize("NFC", str(s))


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
    from ..survey.design import SurveyDesign
    from ..survey.weighting import calibrate

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
    area_covariates, crosswalk, robustness_draws, drivers, report_config
        The analyses and front matter of SECTIONS.md (small areas, boundary crosswalk,
        robustness, drivers; the Word report's ``[report]`` table); kept in
        :attr:`AnnualRun.extra` until the analyses are wired in.

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
    from .. import __version__
    from ..index.composite import compute_index
    from ..reading.schema import validate_survey
    from ..index.trajectory import Trajectory, compare

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
                          synthetic=synthetic, lonely_psu=lonely_psu, area_covariates=area_covariates,
                          crosswalk=crosswalk, robustness_draws=robustness_draws, drivers=drivers,
                          report_config=report_config)
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
        results["method_notes_vi"].append(
            f"Tầng chỉ có một đơn vị mẫu cấp 1: lonely_psu = '{lonely_psu}' (như survey.lonely.psu của R); "
            "quy tắc này chỉ ảnh hưởng đến sai số chuẩn, không ảnh hưởng đến ước lượng.")
    return AnnualRun(results=results, result=result, previous_result=prev_result, change=change,
                     assessment=assessment, validation=rep,
                     extra=dict(area_covariates=area_covariates, crosswalk=crosswalk, robustness_draws=robustness_draws,
                                drivers=drivers, report_config=report_config))


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
            communes.append({"commune": _nfc(r[key]), "estimate": r["estimate"], "se": r["se"],
                             "ci_low": r["ci_low"], "ci_high": r["ci_high"], "df": r["df"], "n": r["n"],
                             "cv": r["cv"], "publishable": bool(r["publishable"]), "reason": r["reason"],
                             "reason_en": r.get("reason_en", r["reason"]), "reason_vi": r.get("reason_vi", r["reason"]),
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
    dcol = spec.design.commune
    dlab = {"vi": spec.design.commune_label_vi, "en": spec.design.commune_label_en}
    plab = {"vi": spec.design.population_label_vi, "en": spec.design.population_label_en}
    tmp = {"domain_column": dcol, "domain_label": dlab, "population_label": plab}
    d_en, p_en = _labels(tmp, "en")
    d_vi, p_vi = _labels(tmp, "vi")
    rule = result.by_group.publication_rule if result.by_group is not None else spec.publication.effective(spec.scale)
    notes, notes_vi = _method_notes(spec, result, cal, rule, (d_en, d_vi))
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
        "validation": {"ok": rep.ok, "n_rows": rep.n_rows, "coercions": int(len(rep.coercions))},
        "weighting": None if not cal else {k: v for k, v in cal.items() if not isinstance(v, pd.DataFrame)},
        "method_notes": notes,
        "method_notes_vi": notes_vi,
        "provenance": prov,
    }
    if out["change"] and out["change"].get("by_group"):
        bg = out["change"]["by_group"]
        key = next(iter(bg[0]))
        out["change"]["by_group"] = sorted(bg, key=lambda r: vi_sort_key(r[key]))
    return _clean(out)


def _method_notes(spec, result, cal, rule, dom) -> tuple[list[str], list[str]]:
    """The report's method notes in English and Vietnamese (same facts, same order)."""
    formula = spec.formula or spec.implied_formula()
    en = [f"Index: {spec.labels.en} ({spec.preset}, formula {formula}), scale {spec.scale}.",
          f"Variance: {result.variance_method}; intervals: {result.ci_scale}.",
          f"Domains ({_lower_first(dom[0])}) are estimated on the full design, never by dropping rows.",
          "Changes are in percentage points (new - old); relative change is 100 (new/old - 1), labelled separately.",
          "Target status: 'reached' when the whole interval is at or above the target, 'not reached' when it is "
          "below, otherwise 'not distinguishable' (one-sided tests at (1 - level)/2 each)."]
    vi = [f"Chỉ số: {spec.labels.vi or spec.labels.en} (phương pháp {spec.preset}, công thức {formula}), thang "
          f"{'phần trăm' if spec.scale == 'percent' else 'tỷ lệ'}.",
          f"Phương sai: {_to_vi(result.variance_method)}; khoảng tin cậy: {_to_vi(result.ci_scale)}.",
          f"Các miền ({_lower_first(dom[1])}) được ước lượng trên toàn bộ thiết kế mẫu, không loại bỏ dòng nào.",
          "Thay đổi tính bằng điểm phần trăm (mới - cũ); thay đổi tương đối là 100 (mới/cũ - 1), ghi riêng.",
          "Đánh giá mục tiêu: 'đạt' khi cả khoảng tin cậy nằm ở hoặc trên mục tiêu, 'chưa đạt' khi cả khoảng nằm "
          "dưới mục tiêu, còn lại là 'chưa phân biệt được' (kiểm định một phía ở mức (1 - mức tin cậy)/2 mỗi phía)."]
    if result.by_group is not None:
        parts_en, parts_vi = [], []
        if rule.get("min_n") is not None:
            parts_en.append(f"at least {rule['min_n']} respondents")
            parts_vi.append(f"ít nhất {rule['min_n']} người trả lời")
        if rule.get("max_cv") is not None:
            parts_en.append(f"CV at most {rule['max_cv']:.0%}")
            parts_vi.append(f"hệ số biến thiên không quá {rule['max_cv']:.0%}")
        if rule.get("max_ci_halfwidth") is not None:
            parts_en.append(f"interval half-width at most {rule['max_ci_halfwidth']:g} points")
            parts_vi.append(f"nửa độ rộng khoảng tin cậy không quá {rule['max_ci_halfwidth']:g} điểm")
        if rule.get("min_df") is not None:
            parts_en.append(f"at least {rule['min_df']} design degrees of freedom")
            parts_vi.append(f"ít nhất {rule['min_df']} bậc tự do của thiết kế")
        en.append(f"Publication rule ({_lower_first(dom[0])}): an estimate is published when it has "
                  + ", ".join(parts_en or ["a defined index"]) + "; otherwise the table gives the reason.")
        vi.append(f"Quy tắc công bố ({_lower_first(dom[1])}): ước lượng được công bố khi có "
                  + ", ".join(parts_vi or ["chỉ số xác định"]) + "; nếu không, bảng ghi rõ lý do.")
    if cal:
        m = str(cal.get("method", "")).removeprefix("calibrate:")
        ok = bool(cal.get("converged"))
        en.append(f"Weights calibrated ({m}) to the margins given; " + ("converged." if ok else "did NOT converge."))
        vi.append(f"Trọng số được hiệu chỉnh ({m}) theo các tổng biên đã cho; "
                  + ("đã hội tụ." if ok else "CHƯA hội tụ."))
    return en, vi


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
    lines += ["", f"![{_traj_title(results, lang)}](chart_trajectory.png)", ""]

    lines += [f"## {T['components']}", "", f"| {T['component']} | {T['estimate']} | {T['se']} | {T['ci'].format(p=pct)} |",
              "|---|---:|---:|---:|"]
    for c in results["components"]:
        lines.append(f"| {cell(c['label_' + lang] or c['name'])} | {_f(c['estimate'])} | {_f(c['se'])} | {_ci(c)} |")
    lines += ["", f"![{cell(T['chart_comp'])}](chart_components.png)", ""]

    dlab, plab = _labels(results, lang)
    if results["communes"]:
        lines += [f"## {cell(_domains_heading(results, lang))}", "",
                  f"| {cell(dlab)} | {T['estimate']} | {T['ci'].format(p=pct)} | {cell(T['diff_pop'].format(pop=plab))} | "
                  f"{T['n']} | {T['publishable']} |",
                  "|---|---:|---:|---:|---:|:---:|"]
        for c in _commune_order(results["communes"]):
            pub = T["yes"] if c["publishable"] else f"{T['no']}: {cell(_reason(c, lang))}"
            lines.append(f"| {cell(c['commune'])} | {_f(c['estimate'])} | {_ci(c)} | {_f(c['diff_city_pp'], sign=True)} | "
                         f"{c['n']} | {pub} |")
        lines += ["", f"![{cell(_domains_heading(results, lang))}](chart_communes.png)", ""]

    lines += [f"## {T['change']}", ""]
    if ch:
        lines.append(T["samples_joint"] if ch["samples"] == "joint" else T["samples_independent"])
        lines.append("")
        lines.append(f"{ch['old_label']}: {_f(ch['old'])} → {ch['new_label']}: {_f(ch['new'])}; "
                     f"{T['change_pp']} {_f(ch['change_pp'], sign=True)} ({T['se']} {_f(ch['se'])}); "
                     f"{T['change_rel']} {_f(ch['change_rel_pct'], sign=True)}%")
        if ch.get("by_group"):
            lines += ["", f"| {cell(dlab)} | {ch['old_label']} | {ch['new_label']} | {T['change_pp']} | "
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
                         f"{cell(_STATUS.get(r['status'], {lang: r['status']})[lang])} | {cell(_source(r['target_source'], lang))} |")
        lines += ["", f"### {T['outlook']}", ""] + [f"- {cell(s)}" for s in _outlook_lines(tg["outlook"], lang, pct)]
    else:
        lines.append(T["no_targets"])
    lines += ["", f"## {T['method']}", ""] + [f"- {cell(n)}" for n in _notes(results, lang)]
    lines += ["", f"## {T['provenance']}", ""] + [f"- {cell(x)}" for x in _provenance_lines(results["provenance"], lang)]
    return "\n".join(lines) + "\n"


def _domains_heading(results: dict, lang: str) -> str:
    return TEXT[lang]["by_domain"].format(d=_lower_first(_labels(results, lang)[0]))


def _traj_title(results: Mapping, lang: str) -> str:
    """Title (and alt text) of the trajectory chart: 'against the targets' only when there are targets."""
    tg = results.get("targets") or {}
    has = any(r.get("target") is not None for r in tg.get("years") or [])
    return TEXT[lang]["chart_traj" if has else "chart_years"].format(p=f"{100 * results['level']:g}")


def _notes(results: Mapping, lang: str) -> list[str]:
    if lang == "vi" and results.get("method_notes_vi"):
        return list(results["method_notes_vi"])
    return list(results.get("method_notes") or [])


def _source(text, lang: str) -> str:
    """A bilingual "Vietnamese / English" source (as in the bundled target sets) in one language."""
    text = text or ""
    parts = text.split(" / ")
    if len(parts) == 2 and all(p.strip() for p in parts):
        return parts[0].strip() if lang == "vi" else parts[1].strip()
    return text


def summary_lines(results: Mapping, lang: str = "en") -> list[str]:
    """The terminal summary of a run (``happiness-index run`` prints it), in ``lang``."""
    T = TEXT[lang]
    pct = f"{100 * results['level']:g}"
    idx = results["index"]
    title = results["title"].get(lang) or results["title"]["en"]
    out = [title + (f" [{T['synthetic']}]" if results.get("synthetic") else "")]
    out.append(f"  {T['index']} {results.get('year') or ''}: {_f(idx['estimate'])} ({T['ci'].format(p=pct)} "
               f"{_ci(idx)}; {T['se']} {_f(idx['se'])})")
    band = idx.get("level_band")
    if band:
        out.append(f"  {T['level']}: {band[lang]}")
    ch = results.get("change")
    if ch:
        out.append(f"  {T['change_pp']} {ch['old_label']} → {ch['new_label']}: {_f(ch['change_pp'], sign=True)} "
                   f"({T['ci'].format(p=pct)} {_f(ch['ci_low'], sign=True)} – {_f(ch['ci_high'], sign=True)}; "
                   f"{T['p']} {_f(ch['p_value'], 3)})")
    if results.get("communes"):
        k = sum(not c["publishable"] for c in results["communes"])
        out.append(f"  {_labels(results, lang)[0]}: " + T["not_publishable_n"].format(k=k, n=len(results["communes"]))
                   + (T["see_reasons"] if k else ""))
    tg = results.get("targets")
    if tg:
        for r in tg["years"]:
            if r.get("target") is None:
                continue
            st = _STATUS.get(r["status"], {lang: r["status"]})[lang]
            out.append(f"  {T['target']} {r['year']}: {_f(r['target'])}; {T['estimate']} {_f(r['estimate'])}; {st}")
    return out


def _reason(c: Mapping, lang: str) -> str:
    return c.get("reason_" + lang) or c.get("reason") or ""


def _commune_order(rows: list) -> list:
    """Highest estimate first; ties (and undefined estimates, last) in Vietnamese order."""
    return sorted(rows, key=lambda r: (r["estimate"] is None, -(r["estimate"] or 0.0), vi_sort_key(r["commune"])))


def _provenance_lines(prov: Mapping, lang: str) -> list[str]:
    T = TEXT[lang]
    seed = prov.get("seed")
    reps = prov.get("replicates")
    lines = [f"{T['spec']}: {prov.get('spec_name')} {prov.get('spec_version')} (sha256 {prov.get('spec_hash')})",
             f"{T['data_hash']}: {prov.get('data_hash')}", f"{T['library']}: {prov.get('library_version')}",
             f"{T['seed']}: {T['none'] if seed is None else seed}; "
             f"{T['replicates']}: {T['taylor'] if reps is None else reps}"]
    for k, v in (prov.get("inputs") or {}).items():
        lines.append(f"{T['roles'].get(k, k)}: {v['file']} (sha256 {v['sha256']})")
    return lines


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
        basis = o["projection_basis"] or ""
        if lang == "vi":
            basis = _BASIS_VI.get(basis, basis)
        out.append(T["projection"].format(p=o["projection"], y=o["projection_year"], ci=ci, b=basis))
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
    parts.append(f"<img src='chart_trajectory.png' alt='{e(_traj_title(results, lang))}'>")
    parts.append(f"<h2>{e(T['components'])}</h2>")
    parts.append(table([T["component"], T["estimate"], T["se"], T["ci"].format(p=pct)],
                       [[c["label_" + lang] or c["name"], _f(c["estimate"]), _f(c["se"]), _ci(c)]
                        for c in results["components"]]))
    parts.append(f"<img src='chart_components.png' alt='{e(T['chart_comp'])}'>")
    dlab, plab = _labels(results, lang)
    if results["communes"]:
        parts.append(f"<h2>{e(_domains_heading(results, lang))}</h2>")
        rows = [[c["commune"], _f(c["estimate"]), _ci(c), _f(c["diff_city_pp"], sign=True), c["n"],
                 T["yes"] if c["publishable"] else f"{T['no']}: {_reason(c, lang)}"]
                for c in _commune_order(results["communes"])]
        parts.append(table([dlab, T["estimate"], T["ci"].format(p=pct), T["diff_pop"].format(pop=plab), T["n"],
                            T["publishable"]], rows))
        parts.append(f"<img src='chart_communes.png' alt='{e(_domains_heading(results, lang))}'>")
    parts.append(f"<h2>{e(T['change'])}</h2>")
    if ch:
        parts.append(f"<p>{e(T['samples_joint'] if ch['samples'] == 'joint' else T['samples_independent'])}</p>")
        parts.append(table([T["year"], T["estimate"], T["se"]],
                           [[ch["old_label"], _f(ch["old"]), _f(ch["old_se"])],
                            [ch["new_label"], _f(ch["new"]), _f(ch["new_se"])]]))
        if ch.get("by_group"):
            key = next(iter(ch["by_group"][0]))
            parts.append(table([dlab, ch["old_label"], ch["new_label"], T["change_pp"], T["ci"].format(p=pct),
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
                             _STATUS.get(r["status"], {lang: r["status"]})[lang], _source(r["target_source"], lang)]
                            for r in tg["years"]]))
        parts.append("<ul>" + "".join(f"<li>{e(s)}</li>" for s in _outlook_lines(tg["outlook"], lang, pct)) + "</ul>")
    else:
        parts.append(f"<p>{e(T['no_targets'])}</p>")
    parts.append(f"<h2>{e(T['method'])}</h2><ul>" + "".join(f"<li>{e(n)}</li>" for n in _notes(results, lang)) + "</ul>")
    items = _provenance_lines(results["provenance"], lang)
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
    """Index by year with CI bars, against the targets; published figures hollow.

    Targets are drawn as markers only, never joined by a line: a line would suggest a target
    in years that have none (a plan gives targets for some years, not a path between them).
    Estimate labels sit to the right of their CI bar, target labels to the left of their
    marker, and the axes are padded so that no label touches the plot edge.
    """
    plt = _plt()
    fig = trajectory_figure(results, lang)
    _save(fig, Path(path))
    plt.close(fig)


def trajectory_figure(results: dict, lang: str = "vi"):
    """The matplotlib Figure drawn by :func:`plot_trajectory` (the caller closes it)."""
    plt = _plt()
    T = TEXT[lang]
    pct = f"{100 * results['level']:g}"
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    tg = results.get("targets")
    pts, ty = [], []
    if tg:
        ty = [(r["year"], r["target"]) for r in tg["years"] if r["target"] is not None]
        pts = [(r["year"], r["estimate"], r["ci_low"], r["ci_high"]) for r in tg["years"] if r["estimate"] is not None]
    if not pts:
        idx = results["index"]
        pts = [(results.get("year") or 0, idx["estimate"], idx["ci_low"], idx["ci_high"])]
        if results.get("previous"):
            p = results["previous"]
            pts.insert(0, (p.get("year") or 0, p["estimate"], p.get("ci_low"), p.get("ci_high")))
    if ty:
        ax.plot(*zip(*ty), linestyle="none", marker="D", markersize=7, mfc="white", mew=1.8, color="#c0392b",
                label=T["targets_label"], zorder=4)
        for y, v in ty:
            ax.annotate(f"{v:g}", (y, v), textcoords="offset points", xytext=(-9, 0), ha="right", va="center",
                        color="#c0392b", fontsize=8,
                        bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.85))
    for y, v, lo, hi in pts:
        if lo is None:
            ax.plot([y], [v], "o", mfc="white", color="#1f4e79", label=T["published_label"], zorder=3)
        else:
            ax.errorbar([y], [v], yerr=[[v - lo], [hi - v]], fmt="o", color="#1f4e79", capsize=4, zorder=3)
        ax.annotate(f"{v:.1f}", (y, v), textcoords="offset points", xytext=(9, 0), ha="left", va="center",
                    fontsize=8, color="#1f4e79",
                    bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.85))
    ax.errorbar([], [], yerr=[], fmt="o", color="#1f4e79", capsize=4, label=f"{T['estimates_label']} ({T['ci'].format(p=pct)})")
    years = sorted({int(p[0]) for p in pts} | {int(y) for y, _ in ty} | ({int(r['year']) for r in tg['years']} if tg else set()))
    ax.set_xticks(years)
    ax.set_xlim(years[0] - 0.7, years[-1] + 0.7)
    vals = [v for _, v in ty] + [x for p in pts for x in p[1:] if x is not None]
    lo_v, hi_v = min(vals), max(vals)
    pad = max(0.08 * (hi_v - lo_v), 1.0)
    ax.set_ylim(lo_v - pad, hi_v + 3 * pad)  # room at the top for the legend
    ax.set_xlabel(T["year"])
    ax.set_ylabel(T["index"] + " (%)")
    ax.set_title(_traj_title(results, lang))
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    uniq = dict(zip(labels, handles))
    ax.legend(uniq.values(), uniq.keys(), loc="upper left", fontsize=8)
    return fig


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
        pop = _labels(results, lang)[1]
        ax.axvline(results["index"]["estimate"], color="#c0392b", ls="--", label=pop[:1].upper() + pop[1:])
        for flag, col, lab in ((True, "#1f4e79", T["pub_label"]), (False, "#999999", T["notpub_label"])):
            if any(bool(r["publishable"]) == flag for r in rows):
                ax.scatter([], [], c=col, label=lab)
        ax.legend(fontsize=8, loc="lower right")
    pct = f"{100 * results['level']:g}"
    ax.set_xlabel(T["index"] + " (%), " + T["ci"].format(p=pct))
    ax.set_title(_domains_heading(results, lang))
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
def write_report(results: dict, out_dir, lang: str = "vi", *, protect=()) -> list[Path]:
    """Write the report folder atomically (see :func:`happiness_index.report.outputs.publish_report`).

    Parameters
    ----------
    results : dict
        From :attr:`AnnualRun.results` (or a ``results.json`` read back).
    out_dir : path
        The report folder. It may not exist yet, be empty, or hold an earlier report written
        by this function (listed in its manifest and unchanged), which is then replaced.
    lang : {"vi", "en"}, default "vi"
    protect : iterable of paths
        Input files: the run refuses a folder that is or contains any of them.

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

    if lang not in TEXT:
        raise HappinessIndexError(f"lang must be 'vi' or 'en', got {lang!r}")
    return publish_report(Path(out_dir), lambda tmp: _write_files(results, tmp, lang), protected=protect)


def _write_files(results: Mapping, tmp: Path, lang: str) -> None:
    """Write every report file into the empty folder ``tmp``."""
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

"""The report's charts (matplotlib): trajectory against the targets, communes, components.

Each chart is a function ``*_figure(results, lang) -> Figure``; :func:`save_charts` writes them
as PNG (for the Word document and the report folder) and returns them as SVG text (inlined in
the HTML report, so that the single file can be e-mailed).

Design rules: the Okabe–Ito palette (distinguishable with every common colour-vision
deficiency), markers that differ in shape as well as colour, legends placed below the plot area
(never over data), target labels to the left of their marker and estimate labels to the right
of their interval, numbers in the language's format, and a width of 16 cm (the text width of
an A4 page with the decree's margins) with fonts of at least 8 points at that width.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .catalog import catalog
from .sections import trajectory_title
from .text import Formatter, commune_display_name, domain_labels, is_missing

__all__ = [
    "CHARTS",
    "PALETTE",
    "communes_figure",
    "components_figure",
    "plot_communes",
    "plot_components",
    "plot_trajectory",
    "save_charts",
    "trajectory_figure",
]

#: Okabe & Ito (2008), "Color universal design": safe for colour-blind readers.
PALETTE = {
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "grey": "#7F7F7F",
    "purple": "#CC79A7",
    "black": "#000000",
}
WIDTH_IN = 16 / 2.54  # A4 text width with 30 mm + 20 mm margins


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams["font.family"] = "DejaVu Sans"  # has the Vietnamese diacritics
    plt.rcParams["font.size"] = 9
    plt.rcParams["svg.hashsalt"] = "happiness_index"
    plt.rcParams["svg.fonttype"] = "path"
    return plt


def _label_box():
    return {"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.9}


def _legend_below(ax, handles, labels, ncol: int = 2) -> None:
    ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=ncol, fontsize=8, frameon=False)


def _trajectory_points(results: Mapping):
    tg = results.get("targets") or {}
    ty = [(r["year"], r["target"]) for r in tg.get("years") or [] if r.get("target") is not None]
    pts = [
        (r["year"], r["estimate"], r.get("ci_low"), r.get("ci_high"))
        for r in tg.get("years") or []
        if not is_missing(r.get("estimate"))
    ]
    if not pts:
        idx = results["index"]
        pts = [(results.get("year") or 0, idx["estimate"], idx.get("ci_low"), idx.get("ci_high"))]
        if results.get("previous"):
            p = results["previous"]
            pts.insert(0, (p.get("year") or 0, p["estimate"], p.get("ci_low"), p.get("ci_high")))
    return tg, ty, pts


def trajectory_figure(results: Mapping, lang: str = "vi"):
    """Index by year with interval bars, the targets as markers and the straight-line projection.

    Targets are drawn as markers only, never joined by a line (a plan gives targets for some
    years, not a path between them). The projection to the last target year is drawn hollow
    with a dashed interval. The caller closes the figure.
    """
    plt = _plt()
    t, f = catalog(lang), Formatter(lang)
    level = f.pct(results["level"])
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 3.6), layout="constrained")
    tg, ty, pts = _trajectory_points(results)
    handles, labels = [], []
    if ty:
        (h,) = ax.plot(
            *zip(*ty),
            linestyle="none",
            marker="D",
            markersize=7,
            mfc="white",
            mew=1.8,
            color=PALETTE["vermillion"],
            label=t("chart.targets"),
            zorder=4,
        )
        handles.append(h), labels.append(t("chart.targets"))
        for y, v in ty:
            ax.annotate(
                f.num(v, 1),
                (y, v),
                textcoords="offset points",
                xytext=(-10, 0),
                ha="right",
                va="center",
                color=PALETTE["vermillion"],
                fontsize=8,
                bbox=_label_box(),
            )
    shown_est = False
    for y, v, lo, hi in pts:
        if is_missing(lo):
            (h,) = ax.plot([y], [v], "s", mfc="white", color=PALETTE["blue"], zorder=3)
            if t("chart.published") not in labels:
                handles.append(h), labels.append(t("chart.published"))
        else:
            h = ax.errorbar([y], [v], yerr=[[v - lo], [hi - v]], fmt="o", color=PALETTE["blue"], capsize=4, zorder=3)
            if not shown_est:
                handles.append(h), labels.append(t("chart.estimates", level=level))
                shown_est = True
        _value_label(ax, f.num(v, 1), y, v)
    proj = _projection(results)
    if proj:
        y, v, lo, hi = proj
        h = ax.errorbar(
            [y],
            [v],
            yerr=[[v - lo], [hi - v]],
            fmt="o",
            mfc="white",
            color=PALETTE["sky"],
            capsize=4,
            zorder=3,
            linestyle="none",
        )
        h[-1][0].set_linestyle("--")
        handles.append(h), labels.append(t("chart.projection", level=level))
        _value_label(ax, f.num(v, 1), y, v)
    years = sorted(
        {int(p[0]) for p in pts}
        | {int(y) for y, _ in ty}
        | {int(r["year"]) for r in tg.get("years") or []}
        | ({int(proj[0])} if proj else set())
    )
    ax.set_xticks(years)
    ax.set_xlim(years[0] - 0.7, years[-1] + 0.7)
    vals = [v for _, v in ty] + [x for p in pts for x in p[1:] if not is_missing(x)] + (list(proj[1:]) if proj else [])
    pad = max(0.08 * (max(vals) - min(vals)), 1.0)
    ax.set_ylim(min(vals) - pad, max(vals) + pad)
    ax.set_xlabel(t("chart.axis_year"))
    ax.set_ylabel(t("chart.axis_index"))
    ax.set_title(trajectory_title(results, lang), fontsize=10)
    ax.grid(alpha=0.3)
    ax.yaxis.set_major_formatter(_tick_formatter(lang))
    _legend_below(ax, handles, labels, ncol=min(len(handles), 2) or 1)
    return fig


def _value_label(ax, text: str, x: float, y: float) -> None:
    """A value printed just right of its point, on a light box (never over an interval line)."""
    ax.annotate(
        text,
        (x, y),
        textcoords="offset points",
        xytext=(10, 0),
        ha="left",
        va="center",
        fontsize=8,
        color=PALETTE["blue"],
        bbox=_label_box(),
    )


def _projection(results: Mapping):
    o = (results.get("targets") or {}).get("outlook") or {}
    if o.get("projection") is None or o.get("projection_ci_low") is None:
        return None
    return (
        int(o["projection_year"]),
        float(o["projection"]),
        float(o["projection_ci_low"]),
        float(o["projection_ci_high"]),
    )


def _tick_formatter(lang: str):
    from matplotlib.ticker import FuncFormatter

    f = Formatter(lang)
    return FuncFormatter(lambda x, _pos: f.num(x, 0) if float(x).is_integer() else f.num(x, 1))


def communes_figure(results: Mapping, lang: str = "vi"):
    """Commune estimates (by name) with intervals, sorted; the city estimate as a dashed line."""
    plt = _plt()
    t, f = catalog(lang), Formatter(lang)
    domain, population = domain_labels(results, lang)
    rows = sorted(results.get("communes") or [], key=lambda r: -1e9 if is_missing(r.get("estimate")) else r["estimate"])
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 0.28 * max(len(rows), 3) + 1.5), layout="constrained")
    handles, labels = [], []
    if rows:
        y = np.arange(len(rows))
        v = np.array([np.nan if is_missing(r.get("estimate")) else r["estimate"] for r in rows], dtype=float)
        lo = np.array([np.nan if is_missing(r.get("ci_low")) else r["ci_low"] for r in rows], dtype=float)
        hi = np.array([np.nan if is_missing(r.get("ci_high")) else r["ci_high"] for r in rows], dtype=float)
        pub = np.array([bool(r.get("publishable")) for r in rows])
        for flag, col, marker, key in (
            (True, PALETTE["blue"], "o", "chart.publishable"),
            (False, PALETTE["grey"], "^", "chart.not_publishable"),
        ):
            if (pub == flag).any():
                ax.hlines(y[pub == flag], lo[pub == flag], hi[pub == flag], colors=col)
                h = ax.scatter(v[pub == flag], y[pub == flag], c=col, marker=marker, zorder=3)
                handles.append(h), labels.append(t(key))
        h = _model_overlay(ax, results, rows, y)
        if h is not None:
            handles.append(h), labels.append(t("chart.model_published"))
        ax.set_yticks(y)
        ax.set_yticklabels([commune_display_name(r) for r in rows])
        h = ax.axvline(results["index"]["estimate"], color=PALETTE["vermillion"], ls="--")
        handles.append(h), labels.append(population[:1].upper() + population[1:])
        ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xlabel(t("chart.axis_index_ci", level=f.pct(results["level"])))
    ax.xaxis.set_major_formatter(_tick_formatter(lang))
    ax.set_title(t("chart.communes", domain=domain[:1].lower() + domain[1:]), fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    if handles:
        ax.legend(
            handles,
            labels,
            loc="upper center",
            bbox_to_anchor=(0.5, -0.6 / max(len(rows), 3) - 0.08),
            ncol=3 if len(handles) < 3 else 2,  # long Vietnamese labels: never cut at the page edge
            fontsize=8,
            frameon=False,
        )
    return fig


def _model_overlay(ax, results: Mapping, rows: list, y: np.ndarray):
    """The published area-model estimates (small-area section) just below each commune's direct one."""
    table = (results.get("small_area") or {}).get("table") or []
    model = {str(r["unit"]): r for r in table if r.get("published") == "model" and not is_missing(r.get("model"))}
    at = [(i, model[str(r["commune"])]) for i, r in enumerate(rows) if str(r.get("commune")) in model]
    if not at:
        return None
    yy = y[[i for i, _ in at]] - 0.3
    ax.hlines(yy, [m["model_ci_low"] for _, m in at], [m["model_ci_high"] for _, m in at], colors=PALETTE["blue"])
    return ax.scatter([m["model"] for _, m in at], yy, c=PALETTE["blue"], marker="o", zorder=3)


def components_figure(results: Mapping, lang: str = "vi"):
    """Component estimates with interval bars, value labels clear of the bars."""
    plt = _plt()
    t, f = catalog(lang), Formatter(lang)
    comps = results["components"]
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 3.2), layout="constrained")
    x = np.arange(len(comps))
    v = np.array([c["estimate"] for c in comps], dtype=float)
    lo = np.array([np.nan if is_missing(c.get("ci_low")) else c["ci_low"] for c in comps], dtype=float)
    hi = np.array([np.nan if is_missing(c.get("ci_high")) else c["ci_high"] for c in comps], dtype=float)
    ax.bar(x, v, color=PALETTE["sky"], width=0.6)
    ax.errorbar(x, v, yerr=[v - lo, hi - v], fmt="none", color=PALETTE["black"], capsize=5)
    for i, val in enumerate(v):
        ax.annotate(
            f.num(val, 1), (i + 0.05, val), textcoords="offset points", xytext=(8, 3), fontsize=8, bbox=_label_box()
        )
    ax.set_xticks(x)
    ax.set_xticklabels([c.get("label_" + lang) or c.get("name") for c in comps], fontsize=8)
    ax.set_ylabel(t("chart.axis_percent"))
    ax.set_ylim(0, max(100.0, float(np.nanmax(hi)) + 5) if len(v) else 100)
    ax.yaxis.set_major_formatter(_tick_formatter(lang))
    ax.set_title(t("chart.components"), fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    return fig


CHARTS = {
    "chart_trajectory": trajectory_figure,
    "chart_communes": communes_figure,
    "chart_components": components_figure,
}


def save_charts(results: Mapping, folder: Path | None, lang: str) -> dict[str, str]:
    """Draw every chart; write ``<name>.png`` into ``folder`` (when given); return ``{name: svg text}``.

    PNG files carry no time stamp and the SVG a fixed hash salt, so the same results give
    the same bytes.
    """
    plt = _plt()
    svgs = {}
    for name, make in CHARTS.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fig = make(results, lang)
            try:
                if folder is not None:
                    fig.savefig(Path(folder) / f"{name}.png", dpi=150, metadata={"Software": None})
                buf = io.StringIO()
                fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
                svgs[name] = buf.getvalue()
            finally:
                plt.close(fig)
    return svgs


def _plot(make, results, path, lang) -> None:
    plt = _plt()
    fig = make(results, lang)
    try:
        fig.savefig(Path(path), dpi=150, metadata={"Software": None})
    finally:
        plt.close(fig)


def plot_trajectory(results: Mapping, path, lang: str = "vi") -> None:
    """Write :func:`trajectory_figure` as a PNG file."""
    _plot(trajectory_figure, results, path, lang)


def plot_communes(results: Mapping, path, lang: str = "vi") -> None:
    """Write :func:`communes_figure` as a PNG file."""
    _plot(communes_figure, results, path, lang)


def plot_components(results: Mapping, path, lang: str = "vi") -> None:
    """Write :func:`components_figure` as a PNG file."""
    _plot(components_figure, results, path, lang)

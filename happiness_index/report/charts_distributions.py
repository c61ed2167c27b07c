"""Charts of the robustness analysis and of the answer distributions (matplotlib, no display).

* :func:`distribution_figure` / :func:`plot_distributions`: one stacked horizontal bar per item,
  the weighted shares of its answer categories (from
  :meth:`happiness_index.index.distributions.DistributionTable.to_frame`).
* :func:`rank_ranges_figure` / :func:`plot_rank_ranges`: every commune's rank under sampling
  error and method choices, median and 5–95% range (from ``RobustnessResult.communes``).

Labels come in Vietnamese (default) or English; numbers in Vietnamese charts use the decimal
comma. The functions return/save figures only; the report decides where they go.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["distribution_figure", "plot_distributions", "plot_rank_ranges", "rank_ranges_figure"]

_TEXT = {
    "en": {
        "share": "Share of respondents (%)",
        "answers": "Answer distribution",
        "city": "city",
        "rank": "Rank (1 = highest index)",
        "ranks": "Commune ranks: median and 5–95% of draws",
        "scenario": {
            "sampling": "sampling error",
            "methods": "method choices",
            "both": "sampling error and method choices",
        },
    },
    "vi": {
        "share": "Tỷ lệ người trả lời (%)",
        "answers": "Phân phối câu trả lời",
        "city": "toàn thành phố",
        "rank": "Thứ hạng (1 = chỉ số cao nhất)",
        "ranks": "Thứ hạng xã/phường: trung vị và 5–95% số lần rút",
        "scenario": {
            "sampling": "sai số chọn mẫu",
            "methods": "lựa chọn phương pháp",
            "both": "sai số chọn mẫu và lựa chọn phương pháp",
        },
    },
}


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams["font.family"] = "DejaVu Sans"  # has the Vietnamese diacritics
    return plt


def _save(fig, path: Path) -> None:
    # no "Software" stamp in PNG (reproducible files); SVG has no such key
    meta = {"Software": None} if path.suffix.lower() == ".png" else {}
    fig.savefig(path, dpi=110, bbox_inches="tight", metadata=meta)


def _lang(lang: str) -> dict:
    if lang not in _TEXT:
        raise ValueError(f"lang must be 'vi' or 'en', got {lang!r}")
    return _TEXT[lang]


def distribution_figure(frame: pd.DataFrame, group: str = "city", lang: str = "vi"):
    """Stacked bars, one per item: the shares of its answer categories in ``group``.

    Parameters
    ----------
    frame : DataFrame
        ``DistributionTable.to_frame()``: columns ``group``, ``item``, ``label_en``,
        ``label_vi``, ``category``, ``share`` (proportions).
    group : str, default "city"
    lang : {"vi", "en"}

    Returns
    -------
    matplotlib.figure.Figure
        The caller closes it. Items whose categories differ (1–5 and 0–10) share the axis;
        the legend lists the categories of the widest scale.
    """
    plt = _plt()
    T = _lang(lang)
    f = frame[frame["group"] == group]
    if f.empty:
        raise ValueError(f"no rows for group {group!r}; groups are {sorted(set(frame['group']))}")
    items = list(dict.fromkeys(f["item"]))
    cats = sorted(set(f["category"]), key=float)
    cmap = plt.get_cmap("RdYlGn", max(len(cats), 2))
    colour = {c: cmap(i) for i, c in enumerate(cats)}
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(items) + 1.6))
    label_col = "label_vi" if lang == "vi" else "label_en"
    for y, it in enumerate(items):
        rows = f[f["item"] == it].sort_values("category", key=lambda s: s.astype(float))
        left = 0.0
        for c, s in zip(rows["category"], 100 * rows["share"].to_numpy(dtype=float)):
            ax.barh(
                y,
                s,
                left=left,
                color=colour[c],
                edgecolor="white",
                linewidth=0.5,
                label=str(c) if y == 0 or c not in set(f[f["item"] == items[0]]["category"]) else None,
            )
            if s >= 6:
                txt = f"{s:.0f}"
                ax.text(left + s / 2, y, txt, ha="center", va="center", fontsize=7)
            left += s
    names = [f[f["item"] == it][label_col].iloc[0] or it for it in items]
    ax.set_yticks(np.arange(len(items)))
    ax.set_yticklabels(names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel(T["share"])
    where = T["city"] if group == "city" else group
    ax.set_title(f"{T['answers']} – {where}")
    handles, labels = ax.get_legend_handles_labels()
    uniq = dict(zip(labels, handles))
    ax.legend(
        uniq.values(),
        uniq.keys(),
        ncol=min(len(uniq), 11),
        fontsize=7,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.12 - 0.3 / max(len(items), 1)),
        frameon=False,
    )
    return fig


def plot_distributions(frame: pd.DataFrame, path, group: str = "city", lang: str = "vi") -> None:
    """Save :func:`distribution_figure` to ``path`` (PNG or SVG by the suffix)."""
    plt = _plt()
    fig = distribution_figure(frame, group, lang)
    _save(fig, Path(path))
    plt.close(fig)


def rank_ranges_figure(communes: pd.DataFrame, scenario: str = "both", lang: str = "vi"):
    """Every commune's median rank with its 5–95% range of draws (``RobustnessResult.communes``).

    Communes are sorted by median rank; rank 1 (highest index) at the top.
    """
    plt = _plt()
    T = _lang(lang)
    f = communes[communes["scenario"] == scenario].sort_values(["median_rank", "unit"])
    if f.empty:
        raise ValueError(f"no rows for scenario {scenario!r}")
    y = np.arange(len(f))
    fig, ax = plt.subplots(figsize=(7, 0.32 * len(f) + 1.4))
    ax.hlines(y, f["rank_p05"], f["rank_p95"], color="#1f4e79", lw=3, alpha=0.45)
    ax.scatter(f["median_rank"], y, color="#1f4e79", zorder=3)
    ax.set_yticks(y)
    ax.set_yticklabels(f["unit"], fontsize=8)
    ax.invert_yaxis()
    n = int(np.nanmax(f["rank_p95"])) if len(f) else 1
    ax.set_xticks(range(1, n + 1))
    ax.set_xlim(0.5, n + 0.5)
    ax.set_xlabel(T["rank"])
    ax.set_title(f"{T['ranks']}\n({T['scenario'].get(scenario, scenario)})", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return fig


def plot_rank_ranges(communes: pd.DataFrame, path, scenario: str = "both", lang: str = "vi") -> None:
    """Save :func:`rank_ranges_figure` to ``path``."""
    plt = _plt()
    fig = rank_ranges_figure(communes, scenario, lang)
    _save(fig, Path(path))
    plt.close(fig)

"""Charts: the projection with its interval, legends clear of the data, colour-blind-safe colours, A4 width."""

from __future__ import annotations

import matplotlib.colors as mcolors
import matplotlib.pyplot as plt
import pytest
from report_helpers import example_run

from happiness_index.report.charts import (
    PALETTE,
    WIDTH_IN,
    communes_figure,
    components_figure,
    save_charts,
    trajectory_figure,
)


@pytest.fixture(scope="module")
def results():
    return example_run().results


@pytest.fixture(params=[trajectory_figure, communes_figure, components_figure])
def figure(request, results):
    fig = request.param(results, "vi")
    fig.canvas.draw()
    yield fig
    plt.close(fig)


def test_legend_never_over_the_plot_area(figure):
    ax = figure.axes[0]
    r = figure.canvas.get_renderer()
    leg = ax.get_legend()
    if leg is not None:
        lb, ab = leg.get_window_extent(r), ax.get_window_extent(r)
        assert lb.y1 <= ab.y0 + 1, "legend overlaps the axes"


def test_a4_width_and_readable_fonts(figure):
    assert figure.get_size_inches()[0] == pytest.approx(WIDTH_IN)
    from matplotlib.text import Text

    texts = [t for t in figure.findobj(Text) if t.get_text() and t.get_visible()]
    assert min(t.get_fontsize() for t in texts) >= 8


def test_colours_come_from_the_okabe_ito_palette(figure):
    allowed = {mcolors.to_hex(c) for c in PALETTE.values()} | {"#ffffff", "#000000"}
    ax = figure.axes[0]
    used = set()
    for line in ax.get_lines():
        if line.get_visible() and line.get_xdata() is not None and len(line.get_xdata()):
            used.add(mcolors.to_hex(line.get_color()))
    for coll in ax.collections:
        for c in coll.get_edgecolors().tolist() + coll.get_facecolors().tolist():
            used.add(mcolors.to_hex(c))
    for patch in ax.patches:
        used.add(mcolors.to_hex(patch.get_facecolor()))
    assert used and used <= allowed, used - allowed


def test_trajectory_draws_the_projection_with_its_interval(results):
    o = results["targets"]["outlook"]
    fig = trajectory_figure(results, "en")
    try:
        ax = fig.axes[0]
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert any("projection" in s for s in labels)
        assert "80.6" in {t.get_text() for t in ax.texts}
        segs = [seg for c in ax.collections for seg in c.get_segments() if len(seg)]
        assert any(
            abs(seg[0][0] - 2025) < 1e-9
            and {round(seg[0][1], 6), round(seg[-1][1], 6)}
            == {round(o["projection_ci_low"], 6), round(o["projection_ci_high"], 6)}
            for seg in segs
        )
    finally:
        plt.close(fig)


def test_svg_charts_are_deterministic(results):
    import io

    a = save_charts(results, None, "vi")
    assert set(a) == {"chart_trajectory", "chart_communes", "chart_components"}
    assert all(s.lstrip().startswith("<?xml") and "<svg" in s for s in a.values())
    fig = trajectory_figure(results, "vi")
    try:
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    finally:
        plt.close(fig)
    assert buf.getvalue() == a["chart_trajectory"]


def test_communes_chart_shows_the_published_model_estimates(results):
    import copy

    r = copy.deepcopy(results)
    first = r["communes"][0]
    r["small_area"] = {
        "table": [
            {"unit": first["commune"], "published": "model", "model": 50.0, "model_ci_low": 45.0, "model_ci_high": 55.0}
        ]
    }
    fig = communes_figure(r, "en")
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "area-model estimate, published" in labels
    xs = [tuple(map(float, c.get_offsets()[0])) for c in fig.axes[0].collections if len(c.get_offsets()) == 1]
    assert any(x == 50.0 for x, _ in xs)  # the model estimate is drawn where it is
    plt.close(fig)

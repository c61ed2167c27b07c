"""The methodology notes agree with the bundled sources (published figures, targets)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import happiness_index as hi

ROOT = Path(__file__).resolve().parents[1]


def _table_rows(text: str, header_start: str) -> list[list[str]]:
    lines = text.splitlines()
    i = next(k for k, ln in enumerate(lines) if ln.strip().startswith(header_start))
    rows = []
    for ln in lines[i + 2 :]:
        if not ln.strip().startswith("|"):
            break
        rows.append([c.strip() for c in ln.strip().strip("|").split("|")])
    return rows


@pytest.mark.parametrize("header, dec", [("| year | LS |", "."), ("| năm | LS |", ",")])
def test_index_md_published_table_matches_the_bundled_sources(header, dec):
    text = (ROOT / "methodology" / "index.md").read_text(encoding="utf-8")
    src = json.loads((ROOT / "happiness_index" / "data" / "targets_yen_bai_province.json").read_text(encoding="utf-8"))
    published = {p["year"]: p for p in src["published"]}
    rows = _table_rows(text, header)
    assert len(rows) == 5

    def num(s):
        return (
            float(re.match(r"[\d.,]+", s).group().replace(",", "."))
            if dec == ","
            else float(re.match(r"[\d.]+", s).group())
        )

    by_year = {}
    for r in rows:
        year = int(re.search(r"20\d\d", r[0]).group())
        by_year.setdefault(year, []).append(r)
    for year in (2020, 2021, 2022):
        (r,) = by_year[year]
        comps = published[year]["components"]
        assert [num(x) for x in r[1:4]] == [comps["ls"], comps["le"], comps["env"]]
        v = hi.index_from_components(comps, "nef_ratio")
        assert r[4] == f"{v:.4f}".replace(".", dec) and r[5] == f"{v:.2f}".replace(".", dec)
        assert num(r[6]) == published[year]["value"]  # the published figure, as published
        decimals = len(str(published[year]["value"]).split(".")[1])
        assert round(v, decimals) == published[year]["value"]  # reproduced to its rounding
    aim, result = by_year[2023]
    assert num(aim[6]) == 65.6 and aim[
        4
    ] == f"{hi.index_from_components((57.13, 78.91, 68.72), 'nef_ratio'):.4f}".replace(".", dec)
    assert num(result[6]) == published[2023]["value"] == 65.62
    assert "63.3" in src["notes"] and any(t["value"] == 63.3 for t in src["targets"])


def test_trajectory_md_uses_no_target_the_bundled_sets_lack():
    text = (ROOT / "methodology" / "trajectory.md").read_text(encoding="utf-8")
    bundled = {t.value for name in ("yen_bai_province", "yen_bai_city_plan") for t in hi.Trajectory.load(name).targets}
    assert 68.3 not in bundled and 61.3 not in bundled
    # 68.3 appears only as one explicit reading of the ambiguous aim, next to the other reading
    chunks = [ln for ln in text.splitlines() if ln.startswith("|")]  # table rows one by one
    chunks += [p for p in re.split(r"\n\s*\n", text) if not p.lstrip().startswith("|")]  # paragraphs
    for chunk in chunks:
        if "68.3" in chunk or "68,3" in chunk:
            assert re.search(r"61[.,]3|reading|cách hiểu", chunk), chunk
    assert "last target 2025: **68.3**" not in text and "mục tiêu cuối năm 2025 **68,3**" not in text

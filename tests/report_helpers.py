"""Shared, cached inputs of the report tests (one annual run per test session) and language checks."""

from __future__ import annotations

import copy
import functools
import re

import happiness_index as hi
from happiness_index.questionnaire.spec import bundled_spec_path
from happiness_index.report.annual import run_annual


@functools.cache
def _example_run():
    spec = hi.IndexSpec.from_toml(bundled_spec_path("yen_bai_nef"))
    return run_annual(
        hi.load_city_survey(2024),
        spec,
        frame=hi.load_city_frame(),
        previous=hi.load_city_survey(2023),
        targets="yen_bai_city_plan",
        synthetic=True,
        report_config={"date": "2026-12-07"},
    )


def example_run():
    """The bundled example (2024 against 2023, city plan targets, no calibration): a fresh copy."""
    run = _example_run()
    fresh = copy.copy(run)
    fresh.results = copy.deepcopy(run.results)
    return fresh


def ascii_sentences(text: str) -> list[str]:
    """Runs of at least four ASCII-only words (an English sentence) in ``text``."""
    words = r"[A-Za-z][a-z]+(?:[-'][a-z]+)?"
    return re.findall(rf"\b{words}(?:[ ,]+{words}){{3,}}\b", text)


VI_LETTERS = re.compile("[ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]", re.IGNORECASE)


def visible_text(folder) -> dict[str, str]:
    """The text a reader sees in each format of a report folder."""
    import docx
    from openpyxl import load_workbook

    html = (folder / "report.html").read_text(encoding="utf-8")
    html = re.sub(r"<style>.*?</style>", " ", html, flags=re.DOTALL)
    html = re.sub(r"<[^>]+>", " ", html)
    d = docx.Document(str(folder / "report.docx"))
    doc = "\n".join([p.text for p in d.paragraphs] + [c.text for t in d.tables for r in t.rows for c in r.cells])
    wb = load_workbook(folder / "tables.xlsx")
    xl = "\n".join(str(c.value) for ws in wb for row in ws.iter_rows() for c in row if isinstance(c.value, str))
    md = (folder / "report.md").read_text(encoding="utf-8")
    return {"md": md, "html": html, "docx": doc, "xlsx": xl}


def without_names(text: str, results) -> str:
    """Remove what is a name, not a sentence: communes, the title, sources, hashes, file names."""
    names = [c.get("name") or c["commune"] for c in results["communes"]]
    names += [results["title"]["vi"], results["title"]["en"], "Yên Bái", "Benjamini–Hochberg", "Holm", "Rao–Wu"]
    # answer categories of household characteristics in the drivers table are data values
    # ("sex = Nữ (vs Nam)"), like commune names
    for row in (results.get("drivers") or {}).get("table") or []:
        if " = " in str(row.get("label_en", "")):
            names += re.findall(r"= (.+?) \(", row["label_en"]) + re.findall(r"\(vs (.+?)\)", row["label_en"])
    for n in sorted(names, key=len, reverse=True):
        text = text.replace(n, " ")
    return re.sub(r"\b[0-9a-f]{64}\b|\S+\.(?:png|csv|py|gz|json|toml)\b", " ", text)

"""Property test: a validation report built from any mixture of problem kinds renders.

Issue 9: ``validate`` crashed with ``TypeError: sequence item 0: expected str instance,
float found`` (``_list_rows``) whenever a report mixed a whole-column or whole-file problem
with a cell problem. Here hypothesis injects random mixtures of every kind of fault into
the good bad-file fixture, with string, integer and missing respondent ids, and renders
every summary and file in English and Vietnamese.
"""

from __future__ import annotations

import io
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from happiness_index import IndexSpec, validate_survey
from happiness_index.errors import SchemaError
from happiness_index.reading.schema import ERROR_COLUMNS, KIND_VI

BAD = Path(__file__).resolve().parent / "data" / "bad"
SPEC = IndexSpec.from_toml(BAD / "spec.toml")
FRAME = pd.read_csv(BAD / "frame.csv")
GOOD = pd.read_csv(BAD / "good.csv")


def _set(df, row, col, value):
    if row >= len(df) or col not in df:
        return df
    s = df[col].astype(object)
    s.iloc[row] = value
    df[col] = s
    return df


# each fault: a function of (data) -> data, named by the kind it produces
FAULTS = {
    "missing column": lambda d: d.drop(columns=["q2"]),
    "missing weight column": lambda d: d.drop(columns=["w"]),
    "duplicate column": lambda d: d.assign(**{"ghi_chú": "a", unicodedata.normalize("NFD", "ghi_chú"): "b"}),
    "missing id": lambda d: _set(d, 2, "id", None),
    "duplicate id": lambda d: _set(d, 4, "id", d["id"].iloc[3]) if len(d) > 4 else d,
    "duplicate id (spaces)": lambda d: _set(d, 5, "id", f" {d['id'].iloc[6]} ") if len(d) > 6 else d,
    "invalid code": lambda d: _set(d, 1, "q1", 7),
    "not a number": lambda d: _set(d, 2, "q3", "abc"),
    "excel error": lambda d: _set(d, 3, "q3", "#N/A"),
    "missing value": lambda d: _set(d, 1, "age", None),
    "weight not positive": lambda d: _set(d, 0, "w", -1.0),
    "weight not finite": lambda d: _set(d, 3, "w", np.inf),
    "psu not nested": lambda d: _set(d, 2, "village", 101),
    "commune not in frame": lambda d: _set(d, 5, "commune", 9),
    "village not in frame": lambda d: _set(d, 1, "village", 999),
    "commune name mismatch": lambda d: (
        d.assign(commune_name=d["commune_name"].astype(str).str.upper()) if "commune_name" in d else d
    ),
    "skip rule": lambda d: _set(d, 2, "job_years", 4),
    "commune without respondents": lambda d: d[d["commune"].astype(str) != "3"],
    "boolean column": lambda d: d.assign(q2=pd.to_numeric(d["q2"], errors="coerce") > 3) if "q2" in d else d,
    "item entirely missing": lambda d: d.assign(q3=np.nan),
    "title row": lambda d: d.set_axis(["Khảo sát"] + [f"Unnamed: {i}" for i in range(1, len(d.columns))], axis=1),
    "coercion": lambda d: _set(d, 0, "q1", " 4 "),
    "ambiguous number": lambda d: _set(d, 6, "w", "1.925"),
    "decimal comma": lambda d: _set(d, 7, "w", "19,25"),
    "no respondents": lambda d: d.iloc[:0],
}
ID_STYLES = ("int", "str", "none", "float")


def _with_ids(d: pd.DataFrame, style: str) -> pd.DataFrame:
    d = d.copy()
    if style == "str":
        d["id"] = [f"R{int(i):03d}" for i in d["id"]]
    elif style == "none":
        d = d.drop(columns=["id"])
    elif style == "float":
        d["id"] = d["id"].astype(float)
    return d


def _render(rep):
    """Every text and file a report produces; each must be a str."""
    texts = []
    for lang in ("en", "vi"):
        s = rep.summary(lang)
        assert list(s.columns) == ["kind", "check", "column", "n", "rows"]
        assert int(s["n"].sum()) == len(rep.errors)
        assert all(isinstance(r, str) for r in s["rows"])
        texts.append(rep.format_summary(lang))
    for coer in (True, False):
        t = rep.to_frame(coercions=coer)
        assert list(t.columns) == ERROR_COLUMNS
        buf = io.StringIO()
        t.to_csv(buf, index=False)
        texts.append(buf.getvalue())
        texts.append(t.to_string())
    texts.append(repr(rep))
    if rep.ok:
        assert rep.raise_if_errors() is rep
    else:
        with pytest.raises(SchemaError) as ei:
            rep.raise_if_errors()
        texts.append(str(ei.value))
    assert all(isinstance(x, str) and x for x in texts)
    return texts


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(faults=st.sets(st.sampled_from(sorted(FAULTS))), ids=st.sampled_from(ID_STYLES), use_frame=st.booleans())
def test_any_mixture_of_problems_renders_in_both_languages(faults, ids, use_frame):
    d = _with_ids(GOOD, ids)
    last = ("commune without respondents", "no respondents", "title row")  # these go last
    for name in sorted(faults, key=lambda f: (last.index(f) if f in last else -1, f)):
        if name in ("missing id", "duplicate id", "duplicate id (spaces)") and ids == "none":
            continue
        d = FAULTS[name](d)
    rep = validate_survey(d, SPEC, FRAME if use_frame else None)
    texts = _render(rep)
    for k in rep.errors["kind"].unique():
        assert k in KIND_VI, k
    if not rep.ok:
        assert "Traceback" not in texts[0]


def test_psu_not_nested_with_the_shipped_spec_renders():
    """The exact crash of issue 9: the bad file against the bundled spec (many missing
    columns, one cell problem)."""
    from happiness_index.questionnaire.spec import bundled_spec_path

    d = pd.read_csv(BAD / "psu_not_nested.csv")
    rep = validate_survey(d, IndexSpec.from_toml(bundled_spec_path("yen_bai_nef")))
    kinds = set(rep.errors["kind"])
    assert {"missing column", "psu not nested"} <= kinds
    texts = _render(rep)
    assert "thiếu cột" in texts[1]


def test_upper_case_commune_names_against_the_frame_render():
    d = GOOD.assign(commune_name=GOOD["commune_name"].str.upper()).drop(columns=["q2"])
    rep = validate_survey(d, SPEC, FRAME)
    assert set(rep.errors["kind"]) == {"missing column", "commune name mismatch"}
    _render(rep)


def test_cli_validate_writes_the_errors_file_of_a_mixed_report(tmp_path, capsys):
    """The command line prints and writes a report mixing whole-column and cell problems."""
    from happiness_index.report.cli import main

    out = tmp_path / "errors.csv"
    code = main(
        ["validate", str(BAD / "psu_not_nested.csv"), "--spec", "yen_bai_nef", "--lang", "vi", "--out", str(out)]
    )
    printed = capsys.readouterr().out
    assert code == 1 and "thiếu cột" in printed and "địa bàn không lồng trong tầng" in printed
    table = pd.read_csv(out, encoding="utf-8-sig")
    assert {"missing column", "psu not nested"} <= set(table["kind"])

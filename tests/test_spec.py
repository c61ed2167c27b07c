"""Tests of IndexSpec: loading, validation errors (key and line), round trip, hash, look-ups."""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import happiness_index as hi
from happiness_index.errors import FormulaError, SpecError
from happiness_index.questionnaire.spec import Component, IndexSpec, Item, bundled_spec_path

ROOT = Path(__file__).resolve().parents[1]
METH = ROOT / "methodology"
SPECS = ("yen_bai_nef", "gnh_alkire_foster")

BASE = """\
name = "mini"
version = "1"
preset = "nef_ratio"
formula = "a * b / c"
scale = "percent"

[labels]
vi = "Chỉ số thử"
en = "Test index"

[design]
id = "id"
weights = "w"

[[components]]
name = "a"
items = ["q1", "q2"]

[[components]]
name = "b"
rule = "at_least_k"
k = 1
items = ["q3"]

[[components]]
name = "c"
items = ["q4"]

[[items]]
name = "q1"
type = "likert5"
missing_codes = [8, 9]
satisfied = 4

[[items]]
name = "q2"
type = "scale0_10"
satisfied = 7

[[items]]
name = "q3"
type = "yes_no"
satisfied = 1

[[items]]
name = "q4"
type = "categorical"
codes = [1, 2, 3]
satisfied = [2, 3]

[[items]]
name = "age"
type = "integer"
minimum = 15
maximum = 120

[[levels]]
lower = 0
upper = 50
labels = { vi = "Thấp", en = "Low" }

[[levels]]
lower = 50
upper = 100
labels = { vi = "Cao", en = "High" }

[[targets]]
year = 2025
value = 80.0
source = "test plan"
"""


def line_of(text: str, needle: str) -> int:
    """1-based line number of the first line containing ``needle``."""
    for i, ln in enumerate(text.splitlines(), 1):
        if needle in ln:
            return i
    raise AssertionError(needle)


def test_base_loads():
    s = IndexSpec.from_text(BASE)
    assert s.name == "mini"
    assert [c.name for c in s.components] == ["a", "b", "c"]
    assert s.item("q2").codes == tuple(range(11))
    assert s.item("q3").codes == (0, 1) and s.item("q3").satisfied == (1,)
    assert s.item("q4").satisfied == (2, 3)
    assert s.item("age").satisfied is None and s.item("age").minimum == 15.0
    assert s.component("b").k == 1
    assert s.design.id == "id" and s.design.weights == "w" and s.design.psu is None


@pytest.mark.parametrize("name", SPECS)
def test_bundled_specs_load_and_round_trip(name):
    s = IndexSpec.from_toml(METH / f"{name}.toml")
    back = IndexSpec.from_text(s.to_toml())
    assert back == s
    assert back.content_hash() == s.content_hash()
    assert IndexSpec.from_dict(s.to_dict()) == s


@pytest.mark.parametrize("name", SPECS)
def test_packaged_copies_identical(name):
    assert (ROOT / "happiness_index" / "data" / "specs" / f"{name}.toml").read_bytes() == (
        METH / f"{name}.toml"
    ).read_bytes()
    assert bundled_spec_path(name).read_bytes() == (METH / f"{name}.toml").read_bytes()


def test_bundled_spec_unknown():
    with pytest.raises(SpecError, match="no bundled spec 'nope'.*yen_bai_nef"):
        bundled_spec_path("nope")


def test_yen_bai_content():
    s = IndexSpec.from_toml(METH / "yen_bai_nef.toml")
    assert s.preset == "nef_ratio" and s.formula == "ls * le / env" and s.scale == "percent"
    assert [c.name for c in s.components] == ["ls", "le", "env"]
    assert s.component("ls").items == ("ls_income", "ls_health", "ls_family", "ls_social")
    assert s.component("le").items == ("le_rating",)
    assert s.component("env").items == ("env_nature", "env_security", "env_services")
    for it in s.items:
        assert it.type == "likert5" and it.codes == (1, 2, 3, 4, 5)
        assert it.missing_codes == (8, 9) and it.satisfied == 4
    assert {t.year: t.value for t in s.targets} == {2022: 72.7, 2023: 76.0, 2025: 84.6}
    assert all("Yên Bái" in t.source for t in s.targets)
    assert (s.design.id, s.design.weights, s.design.strata, s.design.psu) == (
        "respondent_id",
        "weight",
        "commune",
        "village",
    )
    # labels with proper (NFC) diacritics
    assert s.labels.vi == unicodedata.normalize("NFC", s.labels.vi) and "Yên Bái" in s.labels.vi
    assert s.level_for(60).labels.en == "Level 2 – fairly happy"


def test_gnh_content():
    s = IndexSpec.from_toml(METH / "gnh_alkire_foster.toml")
    assert s.preset == "af_gnh" and s.af.threshold == 0.66 and s.formula is None
    assert len(s.items) == 9 and len(s.components) == 9
    assert math.isclose(math.fsum(it.weight for it in s.items), 1.0, abs_tol=1e-12)
    assert s.item("gnh_sleep_hours").satisfied == 8 and s.item("gnh_sleep_hours").maximum == 24


def test_equality_and_frozen():
    a, b = IndexSpec.from_text(BASE), IndexSpec.from_text(BASE)
    assert a == b and a is not b
    c = IndexSpec.from_text(BASE.replace("satisfied = 7", "satisfied = 8"))
    assert a != c and a.content_hash() != c.content_hash()
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.name = "x"
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.items[0].satisfied = 3
    assert isinstance(a.items, tuple) and isinstance(a.components[0].items, tuple)


def test_hash_independent_of_key_order_and_formatting():
    s = IndexSpec.from_text(BASE)
    d = s.to_dict()
    rev = {k: d[k] for k in reversed(list(d))}
    rev["items"] = [{k: it[k] for k in reversed(list(it))} for it in d["items"]]
    assert IndexSpec.from_dict(rev).content_hash() == s.content_hash()
    # same content written differently: comments, spacing, int vs float
    text = "# a comment\n" + BASE.replace('formula = "a * b / c"', 'formula   =   "a * b / c"  # f')
    text = text.replace("lower = 0\n", "lower = 0.0\n")
    assert IndexSpec.from_text(text).content_hash() == s.content_hash()


# The hash of BASE, computed once; any change in the canonical form breaks provenance.
BASE_HASH = IndexSpec.from_text(BASE).content_hash()


def test_hash_stable_across_processes():
    code = (
        "import sys; sys.path.insert(0, %r)\n"
        "from happiness_index.questionnaire.spec import IndexSpec\n"
        "from tests.test_spec import BASE\n"
        "print(IndexSpec.from_text(BASE).content_hash())\n" % str(ROOT)
    )
    for seed in ("0", "12345"):
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"},
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == BASE_HASH
    assert len(BASE_HASH) == 64


# ------------------------------------------------------------------ validation errors
def _err(text, cls=SpecError):
    with pytest.raises(cls) as ei:
        IndexSpec.from_text(text, source="mini.toml")
    return ei.value


def test_unknown_top_level_key():
    t = BASE.replace('scale = "percent"', 'scale = "percent"\nscael = 1')
    e = _err(t)
    assert e.key == "scael" and e.line == line_of(t, "scael")
    assert "unknown key 'scael'" in str(e) and f"line {e.line} of mini.toml" in str(e)


def test_unknown_nested_key_in_items():
    t = BASE.replace("satisfied = 7", "satisfied = 7\nsatisifed = 8")
    e = _err(t)
    assert e.key == "items[1].satisifed" and e.line == line_of(t, "satisifed")


def test_unknown_key_in_inline_labels():
    t = BASE.replace('labels = { vi = "Cao", en = "High" }', 'labels = { vi = "Cao", fr = "Haut" }')
    e = _err(t)
    assert e.key == "levels[1].labels.fr" and e.line == line_of(t, 'fr = "Haut"')


def test_formula_unknown_component():
    t = BASE.replace('formula = "a * b / c"', 'formula = "a * b / d"')
    e = _err(t, FormulaError)
    assert isinstance(e, SpecError)
    assert e.key == "formula" and e.line == 4 and "d" in str(e)


def test_formula_bad_syntax():
    e = _err(BASE.replace('formula = "a * b / c"', 'formula = "a * * b"'), FormulaError)
    assert e.key == "formula"


def test_cutoff_outside_codes():
    t = BASE.replace("satisfied = 7", "satisfied = 11")
    e = _err(t)
    assert e.key == "items[1].satisfied" and e.line == line_of(t, "satisfied = 11")
    assert "outside the item's codes (in range 0..10)" in str(e)


def test_categorical_satisfied_not_a_code():
    t = BASE.replace("satisfied = [2, 3]", "satisfied = [2, 5]")
    e = _err(t)
    assert e.key == "items[3].satisfied" and "[5]" in str(e)


def test_negative_weight():
    t = BASE.replace('name = "q1"', 'name = "q1"\nweight = -0.5')
    e = _err(t)
    assert e.key == "items[0].weight" and e.line == line_of(t, "weight = -0.5")


def test_weights_not_summing_to_declared_total():
    t = BASE.replace('scale = "percent"', 'scale = "percent"\nitem_weight_total = 1.0')
    for i, w in enumerate([0.25, 0.25, 0.25, 0.2]):
        t = t.replace(f'name = "q{i + 1}"', f'name = "q{i + 1}"\nweight = {w}')
    e = _err(t)
    assert e.key == "item_weight_total" and "sum to 0.95" in str(e)
    ok = t.replace("weight = 0.2\n", "weight = 0.25\n")
    assert math.isclose(math.fsum(i.weight for i in IndexSpec.from_text(ok).items if i.weight is not None), 1.0)


def test_weight_tolerance_is_1e_9():
    def spec(total):
        t = BASE.replace('preset = "nef_ratio"', 'preset = "custom"').replace(
            'scale = "percent"', f'scale = "percent"\ncomponent_weight_total = {total!r}'
        )
        for n, w in (("a", 0.5), ("b", 0.25), ("c", 0.25)):
            t = t.replace(f'name = "{n}"\n', f'name = "{n}"\nweight = {w}\n')
        return t

    IndexSpec.from_text(spec(1.0 + 5e-10))
    e = _err(spec(1.0 + 5e-9))
    assert e.key == "component_weight_total"


def test_duplicate_item_names():
    t = BASE.replace('name = "age"', 'name = "q2"')
    e = _err(t)
    assert e.key == "items[4].name" and "duplicate item name 'q2'" in str(e)
    assert e.line == [i for i, ln in enumerate(t.splitlines(), 1) if ln == 'name = "q2"'][1]


def test_duplicate_item_names_after_nfc():
    t = (
        BASE.replace('name = "age"', f'name = "{unicodedata.normalize("NFD", "tuổi")}"')
        .replace('name = "q4"', 'name = "tuổi"')
        .replace('items = ["q4"]', 'items = ["tuổi"]')
    )
    e = _err(t)
    assert "duplicate item name 'tuổi'" in str(e)


def test_component_names_unknown_item():
    t = BASE.replace('items = ["q3"]', 'items = ["q33"]')
    e = _err(t)
    assert e.key == "components[1].items" and e.line == line_of(t, '["q33"]')
    assert "unknown item 'q33'" in str(e)


def test_k_greater_than_items():
    t = BASE.replace("k = 1", "k = 2")
    e = _err(t)
    assert e.key == "components[1].k" and e.line == line_of(t, "k = 2")


def test_levels_overlap_and_gap():
    t = BASE.replace("lower = 50\n", "lower = 40\n")
    e = _err(t)
    assert e.key == "levels[1].lower" and "overlaps" in str(e) and e.line == line_of(t, "lower = 40")
    t = BASE.replace("lower = 50\n", "lower = 60\n")
    e = _err(t)
    assert "gap between bands" in str(e)


def test_more_refusals():
    assert "unknown preset" in str(_err(BASE.replace('"nef_ratio"', '"nef"')))
    assert "needs exactly 3" in str(
        _err(
            BASE.replace('preset = "nef_ratio"', 'preset = "nef_ratio"')
            .replace('formula = "a * b / c"', "")
            .replace('[[components]]\nname = "c"\nitems = ["q4"]\n', "")
        )
    )
    e = _err(BASE.replace('formula = "a * b / c"\n', "").replace('"nef_ratio"', '"custom"'))
    assert e.key == "formula"
    e = _err(BASE.replace('name = "age"\ntype = "integer"', 'name = "age"\ntype = "real"'))
    assert e.key == "items[4].type"
    e = _err(BASE.replace("missing_codes = [8, 9]", "missing_codes = [5, 9]"))
    assert "both valid and missing" in str(e)
    e = _err("name = 'x'\npreset = \n")
    assert "not valid TOML" in str(e)
    # an indicator in a component must have a cut-off
    e = _err(BASE.replace("satisfied = 4\n", ""))
    assert e.key == "items[0].satisfied" and "no 'satisfied' cut-off" in str(e)


def test_skip_rules_and_design_keys():
    rule = '\n[[skip_rules]]\nitem = "age"\nfilter = "q3"\nvalues = [1]\n'
    s = IndexSpec.from_text(BASE + rule)
    assert s.skip_rules[0].filter == "q3" and s.skip_rules[0].values == (1,)
    e = _err(BASE + rule.replace("values = [1]", "values = [3]"))
    assert e.key == "skip_rules[0].values" and "(in codes {0, 1})" in str(e)
    e = _err(BASE + rule.replace('filter = "q3"', 'filter = "age"'))
    assert e.key == "skip_rules[0].filter" and "itself" in str(e)
    e = _err(BASE + rule.replace('filter = "q3"', 'filter = "q9"'))
    assert e.key == "skip_rules[0].filter" and "unknown item 'q9'" in str(e)
    t = BASE.replace('weights = "w"', 'weights = "w"\nstrata_col = "commune"')
    e = _err(t)
    assert e.key == "design.strata_col" and e.line == line_of(t, "strata_col")


def test_from_dict_names_key_without_line():
    d = IndexSpec.from_text(BASE).to_dict()
    d["publication"] = {"min_n": 30, "max_CV": 0.3}
    with pytest.raises(SpecError) as ei:
        IndexSpec.from_dict(d)
    assert ei.value.key == "publication.max_CV" and ei.value.line is None


# ------------------------------------------------------------------ look-ups and indicators
def test_level_for_boundaries():
    s = IndexSpec.from_text(BASE)
    assert s.level_for(0).labels.en == "Low"
    assert s.level_for(49.999).labels.en == "Low"
    assert s.level_for(50).labels.en == "High"
    assert s.level_for(100).labels.en == "High"  # last band includes its upper bound
    for bad in (100.01, -1, float("nan")):
        with pytest.raises(SpecError):
            s.level_for(bad)
    yb = IndexSpec.from_toml(METH / "yen_bai_nef.toml")
    assert yb.level_for(130.0).labels.vi == "Mức 4 – rất hạnh phúc"  # ratio can exceed 100


def test_target_for_and_component():
    s = IndexSpec.from_text(BASE)
    assert s.target_for(2025).value == 80.0 and s.target_for(2024) is None
    assert isinstance(s.component("a"), Component) and isinstance(s.item("q1"), Item)
    with pytest.raises(SpecError, match="no component 'z'.*a, b, c"):
        s.component("z")


def test_implied_formulas():
    s = IndexSpec.from_text(BASE.replace('formula = "a * b / c"\n', ""))
    assert s.formula == "a * b / c"
    t = BASE.replace('formula = "a * b / c"\n', "").replace('"nef_ratio"', '"geometric"')
    assert IndexSpec.from_text(t).formula == "(a * b * c)^(1 / 3)"
    t = BASE.replace('formula = "a * b / c"\n', "").replace('"nef_ratio"', '"mean_of_shares"')
    assert IndexSpec.from_text(t).formula == "(a + b + c) / 3"


def test_satisfied_indicators_hand_worked():
    s = IndexSpec.from_text(BASE)
    df = pd.DataFrame(
        {
            "q1": pd.array([5, 4, 3, 8, None], dtype="Int64"),  # 8 is a missing code
            "q2": [7.0, 6.0, 10.0, np.nan, 0.0],
            "q3": [1, 0, 1, 0, 1],
            "q4": [1, 2, 3, 2, 1],
            "age": [20, 30, 40, 50, 60],
        },
        index=[10, 11, 12, 13, 14],
    )
    before = df.copy()
    out = s.satisfied_indicators(df)
    pd.testing.assert_frame_equal(df, before)
    assert list(out.columns) == ["q1", "q2", "q3", "q4"]  # auxiliary 'age' left out
    assert list(out.index) == [10, 11, 12, 13, 14]
    np.testing.assert_array_equal(out["q1"].to_numpy(), [1, 1, 0, np.nan, np.nan])
    np.testing.assert_array_equal(out["q2"].to_numpy(), [1, 0, 1, np.nan, 0])
    np.testing.assert_array_equal(out["q3"].to_numpy(), [1, 0, 1, 0, 1])
    np.testing.assert_array_equal(out["q4"].to_numpy(), [0, 1, 1, 1, 0])
    assert (out.dtypes == "float64").all()
    with pytest.raises(SpecError, match="column 'q4'"):
        s.satisfied_indicators(df.drop(columns="q4"))


def test_exports():
    assert hi.IndexSpec is IndexSpec and hi.Item is Item and hi.Component is Component


# ------------------------------------------------------------------ round trip property
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",), min_codepoint=1), max_size=30)


@settings(max_examples=60, deadline=None)
@given(
    vi=_text,
    en=_text,
    desc=_text,
    source=_text,
    cut=st.integers(1, 5),
    w=st.lists(st.integers(1, 50), min_size=3, max_size=3),
    upper=st.floats(51, 1e6),
    codes=st.lists(
        st.text(alphabet='abcxyzđươ"\\ ', min_size=1, max_size=5),
        min_size=2,
        max_size=4,
        unique_by=lambda s: unicodedata.normalize("NFC", s.strip()),
    ),
)
def test_property_toml_round_trip(vi, en, desc, source, cut, w, upper, codes):
    codes = [c for c in codes if c.strip()]
    if len(codes) < 2:
        return
    tot = float(sum(w))
    d = IndexSpec.from_text(BASE).to_dict()
    d["preset"] = "mean_of_shares"
    d.pop("formula")
    d["labels"] = {"vi": vi, "en": en}
    d["description"] = desc
    d["component_weight_total"] = tot
    for c, wi in zip(d["components"], w):
        c["weight"] = float(wi)
    d["items"][0]["satisfied"] = cut
    d["items"][3]["codes"] = codes
    d["items"][3]["satisfied"] = [codes[0]]
    d["levels"][1]["upper"] = upper
    d["targets"][0]["source"] = source if source.strip() else "x"
    s = IndexSpec.from_dict(d)
    back = IndexSpec.from_text(s.to_toml())
    assert back == s and back.content_hash() == s.content_hash()


# ------------------------------------------------------------------ breakit #27, #17
def test_text_cutoff_says_a_number_is_needed():
    t = BASE.replace("satisfied = 7", 'satisfied = "7"')
    e = _err(t)
    assert e.key == "items[1].satisfied" and e.line == line_of(t, 'satisfied = "7"')
    assert "must be a number" in str(e) and "got str '7'" in str(e)
    assert "without quotes: satisfied = 7" in str(e) and "outside" not in str(e)
    e = _err(BASE.replace("satisfied = 7", 'satisfied = "bảy"'))
    assert "must be a number" in str(e) and "without quotes" not in str(e)
    e = _err(BASE.replace("satisfied = 7", "satisfied = true"))
    assert e.key == "items[1].satisfied" and "got bool True" in str(e)


def test_empty_codes_blamed_on_codes():
    t = BASE.replace("codes = [1, 2, 3]\nsatisfied = [2, 3]", "codes = []\nsatisfied = [2, 3]")
    e = _err(t)
    assert e.key == "items[3].codes" and e.line == line_of(t, "codes = []")
    assert "'codes' is empty" in str(e)
    t = BASE.replace('type = "scale0_10"', 'type = "scale0_10"\ncodes = []')
    e = _err(t)
    assert e.key == "items[1].codes" and "scale0_10 default [0, 1, 2" in str(e)


def test_from_toml_bad_paths(tmp_path):
    with pytest.raises(SpecError, match=r"spec file not found: .*nope\.toml"):
        IndexSpec.from_toml(tmp_path / "nope.toml")
    with pytest.raises(SpecError, match=r"is a directory, not a TOML file: "):
        IndexSpec.from_toml(tmp_path)
    with pytest.raises(SpecError, match="needs the path of a TOML spec file.*got NoneType None"):
        IndexSpec.from_toml(None)
    p = tmp_path / "ok.toml"
    p.write_text(BASE, encoding="utf-8")
    assert IndexSpec.from_toml(str(p)) == IndexSpec.from_text(BASE)

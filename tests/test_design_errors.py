"""Bad input to SurveyDesign and its estimators: the library's own errors, with useful messages.

Every refusal must be a :class:`~happiness_index.HappinessIndexError` subclass whose
message names the column, the stratum or the rows at fault and says how to fix it (the
"Bad input" section of issue 2). Each test checks the exception type *and* the key
phrases of the message. The last tests feed odd frames (NaN, inf, text, empty, one row)
through hypothesis and assert that nothing but a library error escapes — never a numpy,
pandas or scipy traceback.
"""

from __future__ import annotations

import math
import unicodedata
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import happiness_index as hi
from happiness_index.errors import (
    DesignError,
    EstimationError,
    HappinessIndexError,
    LonelyPSUError,
)

pytestmark = pytest.mark.filterwarnings("ignore::happiness_index.errors.DomainDfWarning")


@pytest.fixture
def df() -> pd.DataFrame:
    """Two strata, two PSUs each, two respondents per PSU."""
    return pd.DataFrame(
        {
            "commune": ["Nghĩa Lộ"] * 4 + ["Yên Bình"] * 4,
            "village": [1, 1, 2, 2, 3, 3, 4, 4],
            "w": [1.0, 2, 3, 4, 5, 6, 7, 8],
            "y": [1.0, 2, 3, 4, 5, 6, 7, 8],
            "b": [0, 1, 1, 0, 1, 0, 1, 1],
            "txt": list("xyzxyzxy"),
            "N": [10] * 8,
        }
    )


def design(data, **kw):
    args = dict(weights="w", strata="commune", psu="village")
    args.update(kw)
    return hi.SurveyDesign(data, **args)


def msg(excinfo) -> str:
    return str(excinfo.value)


# ---------------------------------------------------------------------------
# unknown columns
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kw, wrong, right",
    [
        (dict(weights="wt"), "wt", "w"),
        (dict(strata="comune"), "comune", "commune"),
        (dict(psu="vilage"), "vilage", "village"),
        (dict(psu=["village", "hh"]), "hh", None),
        (dict(fpc="NN"), "NN", "N"),
    ],
)
def test_unknown_design_column_names_it_and_suggests(df, kw, wrong, right):
    with pytest.raises(DesignError) as e:
        design(df, **kw)
    m = msg(e)
    assert repr(wrong) in m and "not in the data" in m
    if right is not None:
        assert "Did you mean" in m and repr(right) in m


def test_unknown_analysis_and_domain_columns(df):
    d = design(df)
    for call in (lambda: d.mean("yy"), lambda: d.total("yy"), lambda: d.proportion("yy"), lambda: d.ratio("y", "yy")):
        with pytest.raises(EstimationError) as e:
            call()
        assert "'yy'" in msg(e) and "not in the data" in msg(e) and "Did you mean" in msg(e) and "'y'" in msg(e)
    with pytest.raises(EstimationError) as e:
        d.by("comune")
    assert "'comune'" in msg(e) and "not in the data" in msg(e) and "commune" in msg(e)


# ---------------------------------------------------------------------------
# weights
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad, phrase", [(np.nan, "missing or infinite"), (np.inf, "missing or infinite"), (-np.inf, "missing or infinite")]
)
def test_non_finite_weights(df, bad, phrase):
    data = df.copy()
    data.loc[5, "w"] = bad
    with pytest.raises(DesignError) as e:
        design(data)
    m = msg(e)
    assert "'w'" in m and phrase in m and "rows 5" in m and "finite weight" in m


def test_negative_weights_name_rows(df):
    data = df.copy()
    data.loc[[2, 6], "w"] = [-1.0, -0.5]
    with pytest.raises(DesignError) as e:
        design(data)
    assert "'w'" in msg(e) and "negative" in msg(e) and "2, 6" in msg(e)


def test_all_zero_and_non_numeric_weights(df):
    with pytest.raises(DesignError) as e:
        design(df.assign(w=0.0))
    assert "all weights" in msg(e) and "zero" in msg(e)
    with pytest.raises(DesignError) as e:
        design(df.assign(w=df["w"].astype(str)))
    assert "'w'" in msg(e) and "numeric" in msg(e)


# R 4.x, survey 4.1.1 (zero weights = rows outside every domain, PSU kept):
#   d <- data.frame(h=c(rep("a",6),rep("b",6)), psu=c(1,1,2,2,3,3,4,4,5,5,6,6),
#                   w=c(1,2,0,0,3,4,5,6,0,7,8,9), y=1:12)
#   s <- svydesign(ids=~psu, strata=~h, weights=~w, data=d)
#   svymean(~y, s): 8.73333333333333, SE 1.27547984461504; degf(s) 3
#   SE(svytotal(~y, s)) 125.53087269672
#   identical to svymean(~y, subset(s2, <positive-weight rows>)) with s2 using weight 1 there
ZERO_W = pd.DataFrame(
    {
        "h": ["a"] * 6 + ["b"] * 6,
        "psu": [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6],
        "w": [1.0, 2, 0, 0, 3, 4, 5, 6, 0, 7, 8, 9],
        "y": np.arange(1.0, 13.0),
    }
)


def test_zero_weights_are_out_of_every_domain_but_keep_their_psu():
    d = hi.SurveyDesign(ZERO_W, weights="w", strata="h", psu="psu")
    # PSU 2 has only zero weights: R's degf(s) counts PSUs with positive weight, 6 - 1 - 2 = 3
    m = d.mean("y")
    assert d.df == 3 and m.df == 3
    assert m.estimate == pytest.approx(8.73333333333333, rel=1e-12)
    assert m.se == pytest.approx(1.27547984461504, rel=1e-12)
    assert d.total("y").se == pytest.approx(125.53087269672, rel=1e-12)
    assert m.n == 9  # zero-weight rows do not count as respondents
    # the PSU of the zero-weight rows stays in the variance: dropping it changes the SE
    dropped = hi.SurveyDesign(ZERO_W[ZERO_W["psu"] != 2], weights="w", strata="h", psu="psu")
    assert dropped.mean("y").se != pytest.approx(m.se, rel=1e-6)
    # a zero-weight row is out of every domain: by() does not count it
    t = d.by("h").mean("y").to_frame()
    assert t["n"].tolist() == [4, 5]
    # a domain made only of zero-weight rows is empty
    with pytest.raises(EstimationError) as e:
        d.subset(ZERO_W["w"] == 0)
    assert "empty" in msg(e)


# ---------------------------------------------------------------------------
# nesting, fpc
# ---------------------------------------------------------------------------


def test_psu_code_in_two_strata_without_nest(df):
    data = df.assign(village=[1, 1, 2, 2, 1, 1, 2, 2])
    with pytest.raises(DesignError) as e:
        design(data)
    m = msg(e)
    assert "'village'" in m and "more than one stratum" in m and "'commune'" in m and "nest=True" in m
    assert "1, 2" in m
    # with nest=True the same data is four PSUs
    d = design(data, nest=True)
    assert d.df == 2
    assert d.mean("y").se == pytest.approx(design(df).mean("y").se, rel=1e-12)


def test_fpc_smaller_than_sampled_count(df):
    data = df.assign(N=[1] * 4 + [10] * 4)  # counts (some > 1): stratum Nghĩa Lộ has N=1 < n=2
    with pytest.raises(DesignError) as e:
        design(data, fpc="N")
    m = msg(e)
    assert "smaller than the number of sampled units" in m and "Nghĩa Lộ" in m and "'N'" in m
    assert "population" in m and "N_h >= n_h" in m


def test_fpc_varying_within_a_stratum(df):
    data = df.assign(N=[10, 10, 10, 11, 20, 20, 20, 20])
    with pytest.raises(DesignError) as e:
        design(data, fpc="N")
    m = msg(e)
    assert "varies within a stratum" in m and "Nghĩa Lộ" in m and "'N'" in m


def test_fpc_mixing_counts_and_fractions(df):
    data = df.assign(N=[10] * 4 + [0.5] * 4)
    with pytest.raises(DesignError) as e:
        design(data, fpc="N")
    assert "mixes population counts" in msg(e) and "sampling fractions" in msg(e)


def test_fpc_bad_values(df):
    with pytest.raises(DesignError) as e:
        design(df.assign(N=[10, 10, 10, 10, 0, 0, 0, 0]), fpc="N")
    assert "zero or negative" in msg(e) and "4, 5, 6, 7" in msg(e)
    with pytest.raises(DesignError) as e:
        design(df.assign(N=[10.0, np.nan, 10, 10, 10, 10, 10, 10]), fpc="N")
    assert "missing values" in msg(e) and "rows 1" in msg(e)
    with pytest.raises(DesignError) as e:
        design(df, fpc="txt")
    assert "'txt'" in msg(e) and "numeric" in msg(e)
    with pytest.raises(DesignError) as e:
        design(df, fpc=["N", "N"])
    assert "one fpc per sampling stage" in msg(e)


# ---------------------------------------------------------------------------
# analysis columns
# ---------------------------------------------------------------------------


def test_non_numeric_analysis_column(df):
    d = design(df)
    with pytest.raises(EstimationError) as e:
        d.ratio("txt", "y")
    m = msg(e)
    assert "'txt'" in m and "not numeric" in m and "'x'" in m and "proportion()" in m
    with pytest.raises(EstimationError) as e:
        # (a single text column is categorical: mean("s") gives the share of every category)
        design(df.assign(s=[str(v) for v in range(8)])).mean(["s", "y"])
    assert "'s'" in msg(e) and "pd.to_numeric" in msg(e)
    with pytest.raises(EstimationError) as e:
        d.proportion("y")
    assert "0/1" in msg(e) and "'y'" in msg(e)


def test_infinite_analysis_values(df):
    data = df.assign(y=[1.0, np.inf, 3, 4, 5, 6, 7, 8])
    with pytest.raises(EstimationError) as e:
        design(data).mean("y")
    assert "infinite" in msg(e) and "'y'" in msg(e) and "rows 1" in msg(e)


# R: with d$ym <- d$y; d$ym[c(1, 8)] <- NA (ZERO_W data, 1-based rows 1 and 8)
#   svymean(~ym, s3, na.rm=TRUE): 9.05263157894737, SE 1.33982995097968
def test_missing_analysis_values_error_and_na_rm():
    data = ZERO_W.assign(ym=ZERO_W["y"].where(~ZERO_W.index.isin([0, 7])))
    d = hi.SurveyDesign(data, weights="w", strata="h", psu="psu")
    with pytest.raises(EstimationError) as e:
        d.mean("ym")
    m = msg(e)
    assert "'ym'" in m and "2 missing" in m and "rows 0, 7" in m and "na_rm=True" in m
    est = d.mean("ym", na_rm=True)
    assert est.estimate == pytest.approx(9.05263157894737, rel=1e-12)
    assert est.se == pytest.approx(1.33982995097968, rel=1e-12)
    # PSUs stay in the variance: the same as a subset of the non-missing rows
    sub = hi.SurveyDesign(data.assign(ym=data["ym"].fillna(0)), weights="w", strata="h", psu="psu")
    s = sub.subset(data["ym"].notna()).mean("ym")
    assert s.se == pytest.approx(est.se, rel=1e-12)
    # a zero-weight row with a missing value is out of the domain already: not an error
    data2 = ZERO_W.assign(ym=ZERO_W["y"].where(ZERO_W.index != 2))
    assert hi.SurveyDesign(data2, weights="w", strata="h", psu="psu").mean("ym").estimate == pytest.approx(
        8.73333333333333
    )
    # categorical with missing values
    data3 = ZERO_W.assign(c=["u", None, "v", "u", "v", "u", "v", "u", "v", "u", "v", "u"])
    with pytest.raises(EstimationError) as e:
        hi.SurveyDesign(data3, weights="w", strata="h", psu="psu").proportion("c")
    assert "'c'" in msg(e) and "1 rows" in msg(e) and "na_rm=True" in msg(e)


def test_all_missing_in_domain_is_an_empty_domain(df):
    data = df.assign(y=[np.nan] * 8)
    with pytest.raises(EstimationError) as e:
        design(data).mean("y", na_rm=True)
    assert "domain is empty" in msg(e) and "'y'" in msg(e)


def test_by_with_every_domain_empty(df):
    data = df.assign(k=[None] * 8)
    with pytest.raises(EstimationError) as e:
        design(data).by("k", dropna=True).proportion("txt")
    assert "every domain" in msg(e) and "'k'" in msg(e) and "empty" in msg(e)
    # dropna=False: the missing key is its own (non-empty) domain
    t = design(data).by("k").mean("y").to_frame()
    assert len(t) == 1 and t["n"].item() == 8


def test_subset_mask_must_be_boolean(df):
    d = design(df)
    with pytest.raises(EstimationError) as e:
        d.subset(df["txt"])  # a text column is not a mask (it used to select every row)
    assert "True/False" in msg(e) and "'x'" in msg(e) and "comparison" in msg(e)
    # 0/1 and an object column of True/False are accepted
    ref = d.subset(df["y"] > 2).mean("y")
    assert d.subset((df["y"] > 2).astype(int)).mean("y").se == pytest.approx(ref.se, rel=1e-12)
    assert d.subset((df["y"] > 2).astype(object)).mean("y").se == pytest.approx(ref.se, rel=1e-12)
    # a mask with duplicate row labels cannot be aligned with the data rows
    with pytest.raises(EstimationError) as e:
        d.subset(pd.Series([True] * 8, index=[0, 0, 1, 1, 2, 2, 3, 3]))
    assert "cannot be aligned" in msg(e) and "row order" in msg(e)


def test_by_needs_a_column(df):
    with pytest.raises(EstimationError) as e:
        design(df).by([])
    assert "at least one domain column" in msg(e)


def test_replicate_design_with_one_bootstrap_replicate(df):
    with pytest.raises(DesignError) as e:
        hi.ReplicateDesign(df.assign(r=df["w"]), "w", ["r"], method="bootstrap")
    assert "at least 2 replicates" in msg(e) and "got 1" in msg(e)


def test_empty_subset_domain(df):
    d = design(df)
    with pytest.raises(EstimationError) as e:
        d.subset(df["y"] > 100)
    assert "subset is empty" in msg(e)
    with pytest.raises(EstimationError) as e:
        d.subset(np.ones(3, dtype=bool))
    assert "shape" in msg(e) and "one value per row (8)" in msg(e)
    with pytest.raises(EstimationError) as e:
        d.subset(pd.Series([True, None, True, True, True, True, True, True], dtype=object))
    assert "missing values" in msg(e) and "rows 1" in msg(e)


# ---------------------------------------------------------------------------
# lonely PSUs
# ---------------------------------------------------------------------------


def test_single_psu_under_fail_names_stratum_and_rules(df):
    data = df.assign(commune=["Nghĩa Lộ"] * 2 + ["Yên Bình"] * 6)
    d = design(data)  # the constructor stores; the variance refuses
    with pytest.raises(LonelyPSUError) as e:
        d.mean("y")
    m = msg(e)
    assert "Nghĩa Lộ" in m and "only one PSU" in m
    for rule in ("remove", "certainty", "adjust", "average"):
        assert rule in m
    assert isinstance(e.value, DesignError)
    # every rule in the message works
    for rule in ("remove", "certainty", "adjust", "average"):
        assert math.isfinite(design(data, lonely_psu=rule).mean("y").se)
    with pytest.raises(LonelyPSUError) as e:
        d.to_replicates("jkn")
    assert "Nghĩa Lộ" in msg(e) and "remove" in msg(e)


def test_jkn_on_a_single_lonely_psu_is_refused():
    one = pd.DataFrame({"w": [2.0, 3.0], "h": ["a", "a"], "psu": [1, 1], "y": [1.0, 2.0]})
    d = hi.SurveyDesign(one, weights="w", strata="h", psu="psu", lonely_psu="adjust")
    with pytest.raises(DesignError) as e:
        d.to_replicates("jkn")
    assert "single stratum with a single PSU" in msg(e) and "at least 2 PSUs" in msg(e)


def test_unknown_lonely_rule_and_not_a_frame(df):
    with pytest.raises(DesignError) as e:
        design(df, lonely_psu="drop")
    assert "'drop'" in msg(e) and "average" in msg(e)
    with pytest.raises(DesignError) as e:
        hi.SurveyDesign(df.to_dict())
    assert "DataFrame" in msg(e)
    with pytest.raises(DesignError) as e:
        hi.SurveyDesign(df.iloc[:0])
    assert "no rows" in msg(e)


def test_missing_design_codes(df):
    with pytest.raises(DesignError) as e:
        design(df.assign(commune=["a", None, "a", "a", "b", "b", "b", "b"]))
    assert "'commune'" in msg(e) and "missing" in msg(e) and "rows 1" in msg(e)
    with pytest.raises(DesignError) as e:
        design(df.assign(village=[1, 1, np.nan, 2, 3, 3, 4, 4]))
    assert "'village'" in msg(e) and "missing" in msg(e) and "rows 2" in msg(e)


# ---------------------------------------------------------------------------
# domain keys
# ---------------------------------------------------------------------------


def test_missing_domain_keys_kept_as_own_group_or_dropped_from_output(df):
    data = df.assign(k=["u", None, "v", "u", "v", None, "u", "v"])
    d = design(data)
    t = d.by("k").mean("y").to_frame()
    assert len(t) == 3 and t["k"].isna().sum() == 1
    assert t.loc[t["k"].isna(), "n"].item() == 2
    assert t["n"].sum() == 8
    t2 = d.by("k", dropna=True).mean("y").to_frame()
    assert t2["k"].tolist() == ["u", "v"]
    # the rows stay in the design: the same estimates and SEs for u and v either way
    np.testing.assert_allclose(
        t2[["estimate", "se"]].to_numpy(), t[t["k"].notna()][["estimate", "se"]].to_numpy(), rtol=1e-12
    )
    # and the same as a subset of the full design
    s = d.subset(data["k"] == "u").mean("y")
    assert s.se == pytest.approx(t2["se"].iloc[0], rel=1e-12)


def test_nfd_and_nfc_stratum_names_are_one_stratum(df):
    nfd = unicodedata.normalize("NFD", "Nghĩa Lộ")
    assert nfd != "Nghĩa Lộ"
    data = df.assign(commune=[nfd, "Nghĩa Lộ", nfd, "Nghĩa Lộ"] + ["Yên Bình"] * 4)
    d = design(data)
    assert d.df == 2  # 4 PSUs - 2 strata, not 3
    assert d.mean("y").se == pytest.approx(design(df).mean("y").se, rel=1e-12)
    # with PSU codes nested in strata, NFD/NFC must not look like two strata sharing a PSU
    design(data.assign(village=[1, 1, 2, 2, 1, 1, 2, 2]), nest=True)
    # domains and categories too
    t = d.by("commune").mean("y").to_frame()
    assert t["commune"].tolist() == ["Nghĩa Lộ", "Yên Bình"]
    p = d.proportion("commune").to_frame()
    assert len(p) == 2 and p["estimate"].sum() == pytest.approx(1.0)
    cat = d.update(data=data.assign(c=pd.Categorical(data["commune"]))).by("c").mean("y").to_frame()
    assert len(cat) == 2


# ---------------------------------------------------------------------------
# fuzz: nothing but library errors escape
# ---------------------------------------------------------------------------

odd_values = st.sampled_from([np.nan, np.inf, -np.inf, 0.0, -1.0, 1.0, 2.0, 1e300, 3.5, "x", "", None, True])


@st.composite
def odd_frames(draw):
    n = draw(st.integers(0, 6))
    cols = {}
    for name in ("w", "h", "psu", "y", "b", "N"):
        kind = draw(st.sampled_from(["good", "good", "odd", "text"]))
        if kind == "good":
            if name in ("h", "psu"):
                cols[name] = draw(st.lists(st.integers(0, 2), min_size=n, max_size=n))
            elif name == "b":
                cols[name] = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
            else:
                cols[name] = draw(st.lists(st.floats(0.5, 50), min_size=n, max_size=n))
        elif kind == "odd":
            cols[name] = draw(st.lists(odd_values, min_size=n, max_size=n))
        else:
            cols[name] = draw(st.lists(st.text(max_size=3), min_size=n, max_size=n))
    return pd.DataFrame(cols)


def _exercise(data: pd.DataFrame, kw: dict) -> None:
    d = hi.SurveyDesign(data, **kw)
    for call in (
        lambda: d.mean("y"),
        lambda: d.mean("y", na_rm=True),
        lambda: d.total(["y", "b"]),
        lambda: d.proportion("b"),
        lambda: d.proportion("h"),
        lambda: d.ratio("y", "b"),
        lambda: d.by("h").mean("y"),
        lambda: d.by("b", dropna=True).proportion("h"),
        lambda: d.mean(["y", "b"]).contrast({"y": 1, "b": -1}),
        lambda: d.to_replicates("bootstrap", 5, seed=1).mean("y"),
        lambda: d.to_replicates("jkn").mean("y"),
    ):
        try:
            call()
        except HappinessIndexError:
            pass


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=odd_frames(),
    kw=st.sampled_from(
        [
            dict(weights="w", strata="h", psu="psu"),
            dict(weights="w", strata="h", psu="psu", nest=True, lonely_psu="adjust"),
            dict(weights="w"),
            dict(strata="h", fpc="N", lonely_psu="remove"),
            dict(psu="psu", lonely_psu="average"),
            dict(weights="w", psu=["psu", "h"], fpc=["N", "N"]),
        ]
    ),
)
def test_fuzz_only_library_errors_escape(data, kw):
    ref = data.copy(deep=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            _exercise(data, kw)
        except HappinessIndexError:
            pass
    pd.testing.assert_frame_equal(data, ref)


# ---------------------------------------------------------------------------
# breakit follow-ups: negative calibrated weights, dropped domains, replicate input,
# text in numeric columns, switches, update(), seeds, overflow, alignment
# ---------------------------------------------------------------------------


def _calib_frame():
    return pd.DataFrame({"x": np.arange(1.0, 11), "s": ["a"] * 5 + ["b"] * 5, "w": 1.0})


def test_negative_calibrated_weights_are_kept_as_in_r():
    """Unbounded linear calibration to sum(w x) = 90 with N = 10 (x = 1..10, d = 1) gives
    g = 1 + l0 + l1 x with three negative weights; R keeps them (weights != 0), so the
    calibrated total reproduces the constraint exactly: 90."""
    d = hi.SurveyDesign(_calib_frame(), weights="w")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = hi.calibrate(d, {"(Intercept)": 10, "x": 90}, method="linear")
    w = c.weights.to_numpy()
    assert (w < 0).sum() == 3
    t = c.total("x")
    assert t.estimate == pytest.approx(90.0, rel=1e-12)
    assert t.estimate == pytest.approx(float(np.sum(w * np.arange(1.0, 11))), rel=1e-12)
    assert c.n == 10 and t.n == 10
    # hand check: w_i = 1 + l0 + l1 x_i with sum w = 10, sum w x = 90
    # -> l1 = 35/82.5, l0 = -5.5 l1; first weight 1 - 4.5 * 35/82.5
    assert w[0] == pytest.approx(1 - 4.5 * 35 / 82.5, rel=1e-12)
    assert c.mean("x").estimate == pytest.approx(9.0, rel=1e-12)
    r = d.to_replicates("jk1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cr = hi.calibrate(r, {"(Intercept)": 10, "x": 90}, method="linear")
    assert cr.total("x").estimate == pytest.approx(90.0, rel=1e-12)
    assert cr.n == 10
    # the constructor still refuses negative user weights
    with pytest.raises(DesignError, match="negative"):
        hi.SurveyDesign(_calib_frame().assign(w=-1.0), weights="w")


def test_by_warns_about_dropped_domains(df):
    d = design(df.assign(w=[0.0, 0, 0, 0, 5, 6, 7, 8]), lonely_psu="certainty")
    with pytest.warns(hi.HappinessIndexWarning, match=r"1 domain\(s\) left out.*Nghĩa Lộ.*non-zero weight"):
        t = d.by("commune").mean("y")
    assert list(t.keys["commune"]) == ["Yên Bình"]
    d2 = design(df.assign(y=[np.nan] * 4 + [5.0, 6, 7, 8]))
    with pytest.warns(hi.HappinessIndexWarning, match="Nghĩa Lộ"):
        d2.by("commune").mean("y", na_rm=True)
    # the one-PSU domain also has no quantile interval: expect that warning too (none leaks)
    with pytest.warns(hi.HappinessIndexWarning, match="have no interval"):
        with pytest.warns(hi.HappinessIndexWarning, match="Nghĩa Lộ"):
            d2.by("commune").quantile("y", na_rm=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", hi.HappinessIndexWarning)
        design(df).by("commune").mean("y")  # nothing dropped: no warning


def test_replicate_dataframe_is_aligned_by_index(df):
    W = pd.DataFrame(np.arange(1.0, 25).reshape(8, 3), index=df.index, columns=["r1", "r2", "r3"])
    a = hi.ReplicateDesign(df, "w", W)
    b = hi.ReplicateDesign(df, "w", W.iloc[::-1])  # same labels, other order
    np.testing.assert_array_equal(a.replicate_weights(), b.replicate_weights())
    assert a.mean("y").se == pytest.approx(b.mean("y").se, rel=1e-14)
    with pytest.raises(DesignError, match="row labels do not match"):
        hi.ReplicateDesign(df, "w", W.set_axis(range(100, 108)))


@pytest.mark.parametrize(
    "kw, pattern",
    [
        (dict(replicate_weights=np.ones((8, 0))), "no columns"),
        (dict(replicate_weights=np.column_stack([np.ones(8), np.zeros(8)])), r"\[2\] are zero for every respondent"),
        (dict(replicate_weights=np.full((8, 2), "1", dtype=object)), "must be numbers"),
        (dict(scale=float("nan")), "positive finite"),
        (dict(scale=float("inf")), "positive finite"),
        (dict(scale=-1.0), "positive finite"),
        (dict(scale="1"), "positive number"),
        (dict(rscales=[1.0, np.nan, 1.0]), "finite and >= 0"),
        (dict(rscales=[1.0, -1.0, 1.0]), "finite and >= 0"),
        (dict(rscales=["a", "b", "c"]), "must be numbers"),
        (dict(rho="0.5"), "rho must be a number"),
        (dict(method=None), "not a replicate type"),
        (dict(method="jackknife"), "not a replicate type"),
        (dict(mse="yes"), "mse must be True or False"),
    ],
)
def test_replicate_design_bad_arguments(df, kw, pattern):
    args = dict(replicate_weights=np.ones((8, 3)) * df["w"].to_numpy()[:, None])
    args.update(kw)
    with pytest.raises(DesignError, match=pattern):
        hi.ReplicateDesign(df, "w", **args)


def test_replicate_design_text_and_zero_weights(df):
    with pytest.raises(DesignError, match="must be numeric"):
        hi.ReplicateDesign(df.assign(w=df["w"].astype(str)), "w", np.ones((8, 2)))
    with pytest.raises(DesignError, match="not numeric"):
        hi.ReplicateDesign(df.assign(r1=df["w"].astype(str)), "w", ["r1"])
    with pytest.raises(DesignError, match="all weights in 'w' are zero"):
        hi.ReplicateDesign(df.assign(w=0.0), "w", np.ones((8, 2)))


def test_text_in_a_numeric_column_is_an_error_not_category_shares(df):
    z = ["1", "2", "n/a", "4", "5", "6", "7", "8"]
    d = design(df.assign(z=z))
    for f in (lambda: d.mean("z"), lambda: d.total("z")):
        with pytest.raises(EstimationError) as e:
            f()
        m = msg(e)
        assert "'n/a'" in m and "rows 2" in m and "pd.to_numeric" in m
    # a genuinely categorical column keeps its category shares
    shares = design(df).mean("txt")
    assert len(shares) == 3 and shares.estimate.sum() == pytest.approx(1.0)
    with pytest.raises(EstimationError, match="dates"):
        design(df.assign(t=pd.Timestamp("2024-01-01"))).mean("t")
    with pytest.raises(EstimationError, match="complex"):
        design(df.assign(c=df["y"] + 1j)).mean("c")


@pytest.mark.parametrize(
    "kw", [dict(nest="yes"), dict(nest=1), dict(adjust_domain_lonely="False"), dict(adjust_domain_lonely=None)]
)
def test_switches_must_be_booleans(df, kw):
    with pytest.raises(DesignError, match="must be True or False"):
        design(df, **kw)
    with pytest.raises(EstimationError, match="must be True or False"):
        design(df).by("commune", dropna="no")


def test_weights_series_duplicate_columns_and_update(df):
    with pytest.raises(DesignError, match="takes a column name"):
        hi.SurveyDesign(df, weights=df["w"])
    with pytest.raises(DesignError, match=r"duplicate column names \['y'\]"):
        hi.SurveyDesign(pd.concat([df, df[["y"]]], axis=1), weights="w")
    d = design(df)
    with pytest.raises(DesignError, match=r"does not know \['bogus'\].*lonely_psu"):
        d.update(bogus=1)
    pop = {"commune": {"Nghĩa Lộ": 30, "Yên Bình": 50}}
    c = hi.calibrate(d, pop)
    c2 = c.update(lonely_psu="certainty")
    assert c2.lonely_psu == "certainty" and c.lonely_psu == "fail"
    np.testing.assert_array_equal(c2.weights, c.weights)
    assert c2.total("y").se == pytest.approx(c.total("y").se, rel=1e-14)  # adjusters kept
    assert c2.total("y").se != pytest.approx(d.total("y").se, rel=1e-6)
    with pytest.raises(DesignError, match="re-run the calibration"):
        c.update(strata=None)


@pytest.mark.parametrize(
    "kw, pattern",
    [
        (dict(seed="a"), "seed"),
        (dict(seed=1.5), "seed"),
        (dict(seed=-1), "seed"),
        (dict(replicates=2.5), "replicates"),
        (dict(replicates="x"), "replicates"),
        (dict(replicates=1), "at least 2"),
        (dict(replicates=True), "replicates"),
    ],
)
def test_bad_seeds_and_replicate_counts(df, kw, pattern):
    with pytest.raises(DesignError, match=pattern):
        design(df).to_replicates("bootstrap", **kw)


def test_to_replicates_auto_is_r_default(df):
    assert design(df).to_replicates().method == "jkn"
    assert hi.SurveyDesign(df, weights="w", psu="village").to_replicates().method == "jk1"
    with pytest.raises(DesignError, match="auto"):
        design(df).to_replicates("jackknife")


def test_overflow_is_named(df):
    big = df.assign(w=1e308, y=1e308)
    for f in (lambda d: d.mean("y"), lambda d: d.total("y")):
        with pytest.raises(EstimationError, match="overflow"):
            f(hi.SurveyDesign(big, weights="w"))
    with pytest.raises(EstimationError, match="variance .* overflows"):
        design(df.assign(w=1e200)).total("y")


def test_subset_mask_with_another_index_and_mixed_key_types(df):
    d = design(df)
    with pytest.raises(EstimationError, match="does not align with the data's row labels"):
        d.subset(pd.Series([True] * 8, index=range(10, 18)))
    mixed = [1, 1, 1, 1, "1", "1", "1", "1"]
    with pytest.raises(DesignError, match="mixes value types"):
        hi.SurveyDesign(df.assign(commune=mixed), weights="w", strata="commune")
    with pytest.raises(EstimationError, match="mixes value types"):
        hi.SurveyDesign(df.assign(k=mixed), weights="w").by("k").mean("y")


def test_contrast_confint_and_quantile_arguments(df):
    t = design(df).mean(["y", "b"])
    with pytest.raises(EstimationError, match="finite"):
        t.contrast({"y": np.nan})
    with pytest.raises(EstimationError, match="at least one coefficient"):
        t.contrast({})
    with pytest.raises(EstimationError, match="must be a number"):
        t.contrast({"y": "1"})
    e = design(df).mean("y")
    from happiness_index.errors import DomainDfWarning

    with pytest.warns(DomainDfWarning, match="df > 0"):
        lo, hi_ = e.confint(df=0)
    assert math.isnan(lo) and math.isnan(hi_)
    with pytest.warns(DomainDfWarning):
        e.confint(df=float("nan"))
    with pytest.raises(EstimationError, match="df must be a number"):
        e.confint(df="3")
    with pytest.raises(EstimationError, match="df must be positive"):
        design(df).quantile("y", df=-3)
    for args, pattern in [
        (([1.0, np.nan], [1, 1]), "missing"),
        (([1.0, 2.0], [1, np.nan]), "missing"),
        (([1.0, 2.0], [1, -1]), "negative"),
        (([], []), "empty"),
        (([1.0, 2.0], [0, 0]), "all weights are zero"),
    ]:
        with pytest.raises(EstimationError, match=pattern):
            hi.weighted_quantile(*args, 0.5)


def test_quantile_nan_interval_warns_with_the_reason():
    # four values: the median's CDF interval 0.5 -+ t(3) * 0.289 reaches beyond [0, 1]; R gives NA
    d = hi.SurveyDesign(pd.DataFrame({"y": [1.0, 2.0, 3.0, 4.0]}))
    with pytest.warns(hi.HappinessIndexWarning, match=r"outside \[0, 1\]"):
        q = d.quantile("y", p=0.5)
    assert math.isnan(q.se)


def test_no_runtime_warnings_leak(df):
    """Representative edge calls under warnings-as-errors for numpy RuntimeWarnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        warnings.simplefilter("ignore", hi.HappinessIndexWarning)
        design(df.assign(N=np.inf), fpc="N").mean("y")  # infinite population: f = 1
        design(df).subset(np.arange(8) == 0).mean("y", deff=True)  # one respondent: deff NaN
        design(df).subset(np.arange(8) == 0).total("y", deff=True)
        d = design(df)
        jk = d.to_replicates("jkn")
        jk.subset(df["village"].to_numpy() == 1).mean("y")  # a replicate deletes the whole domain
        with pytest.raises(EstimationError):
            design(df.assign(c=df["y"] + 1j)).mean("c")
        with pytest.raises(EstimationError):
            hi.SurveyDesign(df.assign(w=1e308, y=1e308), weights="w").mean("y")
        with pytest.raises(DesignError):
            hi.ReplicateDesign(df, "w", np.column_stack([np.ones(8), np.zeros(8)]))
        d.quantile("y", p=[0.1, 0.5, 0.9])
        d.by("commune").proportion("b", ci_method="likelihood")
    with pytest.raises(DesignError, match="infinite fpc"):
        hi.SurveyDesign(df.assign(N=np.inf), strata="commune", psu="village", fpc="N")

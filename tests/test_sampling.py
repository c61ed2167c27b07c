"""Tests for happiness_index.survey.sampling: sample size, allocation, selection.

Reference numbers are hand-worked (shown beside each assertion) or come from the shared
case c19 (base R arithmetic; its R call is in tests/cases/c19_allocation.json).
"""

from __future__ import annotations

import json
import math
import resource
import subprocess
import sys
import unicodedata
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import happiness_index as hi
from happiness_index.errors import HappinessIndexWarning, LonelyPSUWarning, SamplingError
from happiness_index.survey.sampling import SampleSize, allocate, sample_size, select

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "tests" / "cases"  # copies of shared/cases (scripts/sync_reference.py)

Z95 = 1.959963984540054


# ======================================================================================
# sample_size
# ======================================================================================
class TestSampleSize:
    def test_exported(self):
        assert hi.sample_size is sample_size
        assert hi.allocate is allocate
        assert hi.select is select

    def test_cochran_proportion_385(self):
        # n0 = 1.959964^2 * 0.25 / 0.05^2 = 384.1459 -> 385
        s = sample_size(moe=0.05, p=0.5)
        assert isinstance(s, SampleSize)
        assert s.n_srs == pytest.approx(Z95**2 * 0.25 / 0.0025, rel=1e-12)
        assert s.n_srs == pytest.approx(384.1459, abs=1e-4)
        assert s.n == 385 and int(s) == 385 and s.n_to_contact == 385 and s.n_respondents == 385
        assert s.z == pytest.approx(Z95, rel=1e-12)
        assert s.basis == "proportion"

    def test_level_99(self):
        # z(0.99) = 2.575829; 2.575829^2 * 0.25 / 0.0025 = 663.49 -> 664
        assert sample_size(moe=0.05, level=0.99).n == 664

    def test_fpc(self):
        # 384.1459 / (1 + 383.1459 / 1000) = 277.74 -> 278 (Cochran 1977, ch. 4)
        s = sample_size(moe=0.05, population=1000)
        assert s.n_with_fpc == pytest.approx(384.1459 / (1 + 383.1459 / 1000), abs=1e-3)
        assert s.n_with_fpc == pytest.approx(277.74, abs=0.01)
        assert s.n == 278

    def test_deff_and_response_rate(self):
        # p = .76: n0 = 3.841459 * .1824 / .0025 = 280.27; * 1.5 = 420.41 -> 421 interviews;
        # / .85 = 494.6 -> 495 contacts
        s = sample_size(moe=0.05, p=0.76, deff=1.5, response_rate=0.85)
        assert s.n_srs == pytest.approx(280.2729, abs=1e-3)
        assert s.n_with_deff == pytest.approx(420.4094, abs=1e-3)
        assert s.n_with_fpc == s.n_with_deff
        assert s.n_respondents == 421
        assert s.n_to_contact == 495
        assert s.deff == 1.5 and s.response_rate == 0.85 and s.p == 0.76

    def test_order_deff_then_fpc_then_response(self):
        # 420.4094 / (1 + 419.4094 / 2000) = 347.54 -> 348 interviews; / .8 = 434.4 -> 435
        s = sample_size(moe=0.05, p=0.76, deff=1.5, response_rate=0.8, population=2000)
        assert s.n_with_fpc == pytest.approx(420.4094 / (1 + 419.4094 / 2000), abs=1e-3)
        assert s.n_respondents == 348
        assert s.n_to_contact == 435

    def test_cv_proportion_exact_integer_not_overshot(self):
        # (1 - .5) / (.5 * .05^2) = 400 exactly; float noise must not give 401
        s = sample_size(cv=0.05, p=0.5)
        assert s.n_srs == pytest.approx(400)
        assert s.n == 400
        # (1 - .2) / (.2 * .1^2) = 400 as well
        assert sample_size(cv=0.1, p=0.2).n == 400

    def test_mean(self):
        # sd 10, moe 1: 3.841459 * 100 = 384.15 -> 385 ; cv: (20 / (.05 * 100))^2 = 16
        assert sample_size(moe=1.0, sd=10.0).n == 385
        s = sample_size(cv=0.05, sd=20.0, estimate=100.0)
        assert s.n == 16 and s.basis == "mean"

    def test_previous_index_in_percent(self):
        # S^2 = 1.1^2 * 1200 = 1452 (includes deff); n = 3.841459 * 1452 / 2^2 = 1394.45 -> 1395
        prev = SimpleNamespace(estimate=76.0, se=1.1, n=1200, deff=1.6)
        s = sample_size(moe=2, previous=prev)
        assert s.basis == "previous"
        assert s.n_with_deff == pytest.approx(Z95**2 * 1452 / 4, rel=1e-12)
        assert s.n == 1395
        assert s.n_srs == pytest.approx(Z95**2 * 1452 / 4 / 1.6, rel=1e-12)  # SRS-equivalent
        assert s.sd == pytest.approx(math.sqrt(1452))
        # without .deff n_srs is the direct size; response rate still applies
        s2 = sample_size(moe=2, previous=SimpleNamespace(estimate=76.0, se=1.1, n=1200), response_rate=0.8)
        assert s2.n_srs == pytest.approx(1394.45, abs=0.01)
        assert s2.n == math.ceil(1394.4497 / 0.8)
        # cv on the previous estimate: 1452 / (.01^2 * 76^2) = 2513.85 -> 2514
        assert sample_size(cv=0.01, previous=prev).n == 2514

    def test_previous_unit_warning(self):
        prev = SimpleNamespace(estimate=76.0, se=1.1, n=1200)
        with pytest.warns(HappinessIndexWarning, match="units of the estimate"):
            sample_size(moe=0.02, previous=prev)

    def test_index_protocol_usable_as_n(self):
        s = sample_size(moe=0.05)
        assert list(range(s))[-1] == 384
        fr = pd.DataFrame({"stratum": ["a", "b"], "N": [1000, 3000]})
        assert allocate(fr, s, size="N")["n"].sum() == 385

    def test_frozen(self):
        s = sample_size(moe=0.05)
        with pytest.raises(AttributeError):  # frozen dataclass
            s.n_to_contact = 3  # type: ignore[misc]

    @pytest.mark.parametrize(
        "kwargs, match",
        [
            (dict(moe=5, p=0.5), "moe for a proportion must be in \\(0, 1\\)"),
            (dict(moe=0.0), "moe must be > 0"),
            (dict(moe=0.05, p=76), "p must be a proportion"),
            (dict(moe=0.05, p=-0.1), "p must be a proportion"),
            (dict(moe=0.05, response_rate=0), "response_rate must be in \\(0, 1\\]"),
            (dict(moe=0.05, response_rate=85), "response_rate must be in \\(0, 1\\]"),
            (dict(moe=0.05, deff=0), "deff must be > 0"),
            (dict(moe=0.05, population=0), "population must be at least 1"),
            (dict(moe=0.05, level=95), "level must be in \\(0, 1\\)"),
            (dict(), "exactly one of moe= .* and cv="),
            (dict(moe=0.05, cv=0.1), "exactly one of moe="),
            (dict(cv=0.1, p=0.0), "cv= needs p > 0"),
            (dict(moe=0.05, p="0.5"), "p must be a number"),
            (dict(cv=0.1, sd=3.0), "needs estimate="),
            (dict(moe=0.05, previous=SimpleNamespace(estimate=1.0)), "lacks se, n"),
            (dict(moe=1, previous=SimpleNamespace(estimate=70.0, se=0.0, n=10)), "must be > 0"),
        ],
    )
    def test_errors_name_the_argument(self, kwargs, match):
        with pytest.raises(SamplingError, match=match):
            sample_size(**kwargs)

    def test_more_contacts_than_population(self):
        # 384.15 / (1 + 383.15/100) = 79.5 -> 80 interviews; / .5 -> 160 contacts > 100
        with pytest.raises(SamplingError, match="160 contacts are needed .* only 100 units"):
            sample_size(moe=0.05, population=100, response_rate=0.5)


# ======================================================================================
# allocate: the c19 case
# ======================================================================================
@pytest.fixture(scope="module")
def c19():
    meta = json.loads((CASES / "c19_allocation.json").read_text(encoding="utf-8"))
    frame = pd.read_csv(CASES / meta["data_file"], encoding="utf-8")
    return meta, frame


def test_c19_proportional(c19):
    meta, fr = c19
    exp = meta["expected"]
    out = allocate(fr, meta["design"]["n"], stratum="stratum", size="pop_size")
    assert out["stratum"].tolist() == exp["strata"]
    np.testing.assert_allclose(out["n_exact"], exp["proportional_exact"], atol=meta["tolerance"]["abs"])
    assert out["n"].tolist() == exp["proportional_rounded_sum_400"]
    assert out["n"].sum() == 400
    assert out["n"].dtype == np.int64


def test_c19_neyman_capped(c19):
    meta, fr = c19
    exp = meta["expected"]
    out = allocate(fr, 400, stratum="stratum", size="pop_size", method="neyman", sd="sd")
    np.testing.assert_allclose(out["n_exact"], exp["neyman_capped_exact"], atol=meta["tolerance"]["abs"])
    assert out["n"].tolist() == exp["neyman_capped_rounded_sum_400"]
    assert out["n"].sum() == 400 != exp["WRONG_total_with_ceiling"]
    isl = out.set_index("stratum").loc["Islands"]
    assert isl["n"] == 50 and isl["fraction"] == 1.0 and isl["moe"] == 0.0
    assert (out["n"] <= out["N"]).all()
    assert out.attrs["method"] == "neyman"
    # the uncapped Neyman shares are the starting point: Islands would get 65.57 > 50
    w = fr["pop_size"] * fr["sd"]
    np.testing.assert_allclose(400 * w / w.sum(), exp["neyman_uncapped_exact"], atol=1e-6)


def test_c19_sd_as_mapping_and_table(c19):
    meta, fr = c19
    sd_map = dict(zip(fr["stratum"], fr["sd"]))
    a = allocate(fr, 400, stratum="stratum", size="pop_size", method="neyman", sd=sd_map)
    assert a["n"].tolist() == meta["expected"]["neyman_capped_rounded_sum_400"]
    # last year's by-stratum results: S_h = se_h * sqrt(n_h)
    table = pd.DataFrame({"stratum": fr["stratum"], "estimate": 0.5, "se": fr["sd"] / 10.0, "n": 100})
    b = allocate(fr, 400, stratum="stratum", size="pop_size", method="neyman", sd=table)
    assert b["n"].tolist() == a["n"].tolist()

    class FakeEstimateTable:
        def to_frame(self):
            return table.rename(columns={"stratum": "commune"})

    c = allocate(fr, 400, stratum="stratum", size="pop_size", method="neyman", sd=FakeEstimateTable())
    assert c["n"].tolist() == a["n"].tolist()


def test_moe_column_hand_worked():
    # stratum A: N=1000, n=100, f=.1: 1.959964 * sqrt(.9 * .25 / 100) = 0.0929
    fr = pd.DataFrame({"stratum": ["A", "B"], "N": [1000, 1000]})
    out = allocate(fr, 200, size="N", method="equal")
    assert out["moe"].iloc[0] == pytest.approx(Z95 * math.sqrt(0.9 * 0.25 / 100), rel=1e-12)
    out2 = allocate(fr, 200, size="N", method="equal", p=0.76, deff=1.5, level=0.9)
    z90 = 1.6448536269514722
    assert out2["moe"].iloc[0] == pytest.approx(z90 * math.sqrt(1.5 * 0.9 * 0.76 * 0.24 / 100), rel=1e-12)


def test_unit_level_frame_counts_units():
    units = pd.DataFrame({"commune": ["X"] * 30 + ["Y"] * 10})
    out = allocate(units, 8, stratum="commune")
    assert out["N"].tolist() == [30, 10]
    assert out["n"].tolist() == [6, 2]


def test_mapping_frame_and_nfc():
    nfd = unicodedata.normalize("NFD", "Đồng Tâm")
    out = allocate({nfd: 600, "Âu Lâu": 400}, 100)
    assert out["stratum"].tolist() == ["Đồng Tâm", "Âu Lâu"]
    assert unicodedata.is_normalized("NFC", out["stratum"][0])
    # an sd mapping written in NFC matches a frame written in NFD
    fr = pd.DataFrame({"xa": [nfd, "Âu Lâu"], "hh": [600, 400]})
    out = allocate(fr, 100, stratum="xa", size="hh", method="neyman", sd={"Đồng Tâm": 1.0, "Âu Lâu": 3.0})
    # 600*1 : 400*3 = 1 : 2
    assert out["n"].tolist() == [33, 67]


def test_equal_power_optimal_relations():
    fr = pd.DataFrame(
        {"s": list("abcd"), "N": [4000, 1000, 500, 300], "sd": [1.0, 2.0, 3.0, 1.5], "c": [1.0, 4.0, 9.0, 1.0]}
    )
    prop = allocate(fr, 200, "s", "N")
    assert allocate(fr, 200, "s", "N", method="power", power=1.0)["n"].tolist() == prop["n"].tolist()
    assert allocate(fr, 200, "s", "N", method="power", power=0.0)["n"].tolist() == [50, 50, 50, 50]
    assert allocate(fr, 200, "s", "N", method="equal")["n"].tolist() == [50, 50, 50, 50]
    # power q = .5: shares sqrt(N) = 63.25, 31.62, 22.36, 17.32 -> 93.8, 46.9, 33.2, 25.7 (sum 134.55)
    pw = allocate(fr, 200, "s", "N", method="power", power=0.5)
    sq = np.sqrt([4000, 1000, 500, 300])
    np.testing.assert_allclose(pw["n_exact"], 200 * sq / sq.sum())
    assert pw["n"].tolist() == [94, 47, 33, 26]
    # cost-optimal with equal costs = Neyman; with costs: N S / sqrt(c)
    ney = allocate(fr, 200, "s", "N", method="neyman", sd="sd")
    fr1 = fr.assign(c=2.0)
    assert allocate(fr1, 200, "s", "N", method="optimal", sd="sd", cost="c")["n"].tolist() == ney["n"].tolist()
    opt = allocate(fr, 200, "s", "N", method="optimal", sd="sd", cost="c")
    share = np.array([4000 * 1 / 1, 1000 * 2 / 2, 500 * 3 / 3, 300 * 1.5 / 1])
    np.testing.assert_allclose(opt["n_exact"], 200 * share / share.sum())
    assert opt.attrs["method"] == "optimal"


def test_min_per_stratum_and_take_all():
    fr = pd.DataFrame({"s": ["big", "mid", "tiny"], "N": [9000, 990, 3]})
    out = allocate(fr, 100, "s", "N", min_per_stratum=5)
    # tiny (N=3) is taken completely (min capped at N_h); mid gets its proportional 9.9
    # would give 9.9 -> stays free: lam = (100 - 3)/(9990) ; 9000*lam=87.39, 990*lam=9.61
    np.testing.assert_allclose(out["n_exact"], [9000 * 97 / 9990, 990 * 97 / 9990, 3])
    assert out["n"].tolist() == [87, 10, 3]
    out = allocate(fr, 100, "s", "N", min_per_stratum=20)
    # mid raised to 20, tiny 3, big 77
    assert out["n"].tolist() == [77, 20, 3]


def test_min_per_stratum_per_stratum_mapping_and_column():
    fr = pd.DataFrame({"s": ["big", "mid", "small"], "N": [8000, 1500, 500], "need": [100, 90, 80]})
    # proportional 400: 320, 60, 20 -> mid and small raised to their needs (90, 80); big gets
    # the rest 230 (clip(lam N, L, N) with lam = 230/8000)
    out = allocate(fr, 400, "s", "N", min_per_stratum={"big": 100, "mid": 90, "small": 80})
    assert out["n"].tolist() == [230, 90, 80]
    np.testing.assert_allclose(out["n_exact"], [230, 90, 80])
    assert allocate(fr, 400, "s", "N", min_per_stratum="need")["n"].tolist() == [230, 90, 80]
    with pytest.raises(SamplingError, match="below the sum of the minimums \\(270 = per-stratum"):
        allocate(fr, 250, "s", "N", min_per_stratum="need")
    with pytest.raises(SamplingError, match="min_per_stratum= has no value for strata 'small'"):
        allocate(fr, 400, "s", "N", min_per_stratum={"big": 1, "mid": 1})


def test_largest_remainder_ties_go_to_earlier_stratum():
    fr = pd.DataFrame({"s": ["c", "a", "b"], "N": [100, 100, 100]})
    assert allocate(fr, 10, "s", "N", method="equal")["n"].tolist() == [4, 3, 3]
    assert allocate(fr, 11, "s", "N", method="equal")["n"].tolist() == [4, 4, 3]


def test_zero_sd_stratum_needs_minimum():
    fr = pd.DataFrame({"s": ["a", "b"], "N": [100, 100], "sd": [0.0, 1.0]})
    out = allocate(fr, 50, "s", "N", method="neyman", sd="sd")
    assert out["n"].tolist() == [0, 50]
    assert math.isinf(out["moe"].iloc[0])
    with pytest.raises(SamplingError, match="zero share"):
        allocate(fr, 150, "s", "N", method="neyman", sd="sd")
    out = allocate(fr, 150, "s", "N", method="neyman", sd="sd", min_per_stratum=50)
    assert out["n"].tolist() == [50, 100]


def test_allocate_does_not_modify_frame(c19):
    _, fr = c19
    before = fr.copy()
    allocate(fr, 400, stratum="stratum", size="pop_size", method="neyman", sd="sd")
    pd.testing.assert_frame_equal(fr, before)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n=10, method="cluster"), "unknown allocation method 'cluster'"),
        (dict(n=100_000), "exceeds the population size 10050"),
        (dict(n=8, min_per_stratum=2), "below the sum of the minimums \\(10 = 2 per stratum"),
        (dict(n=10, method="neyman"), "needs sd="),
        (dict(n=10, method="optimal", sd="sd"), "needs cost="),
        (dict(n=10, method="power", power=1.5), "power must be in \\[0, 1\\]"),
        (dict(n=10.5), "n must be a whole number"),
        (dict(n=0), "n must be at least 1"),
        (dict(n=10, stratum="commune"), "stratum column 'commune' is not in the frame"),
        (dict(n=10, size="households"), "size column 'households' is not in the frame"),
        (dict(n=10, method="neyman", sd={"Capital": 1}), "no value for strata 'Coast'"),
        (
            dict(
                n=10,
                method="neyman",
                sd={**{s: 1 for s in ["Capital", "Coast", "Highlands", "Islands", "Plains"]}, "Mars": 1},
            ),
            "strata not in the frame: 'Mars'",
        ),
    ],
)
def test_allocate_errors(c19, kwargs, match):
    _, fr = c19
    args = dict(stratum="stratum", size="pop_size")
    args.update(kwargs)
    n = args.pop("n")
    with pytest.raises(SamplingError, match=match):
        allocate(fr, n, **args)


def test_allocate_bad_sizes_and_duplicates(c19):
    _, fr = c19
    neg = fr.assign(pop_size=[4000, -5, 1500, 50, 2000])
    with pytest.raises(SamplingError, match="positive count .* 'Coast'"):
        allocate(neg, 100, stratum="stratum", size="pop_size")
    miss = fr.assign(pop_size=[4000, None, 1500, 50, 2000])
    with pytest.raises(SamplingError, match="positive count .* 'Coast'"):
        allocate(miss, 100, stratum="stratum", size="pop_size")
    dup = pd.concat([fr, fr.iloc[[1]]])
    with pytest.raises(SamplingError, match="'Coast' appear more than once .* size=None"):
        allocate(dup, 100, stratum="stratum", size="pop_size")
    frac = fr.assign(pop_size=[4000.5, 2500, 1500, 50, 2000])
    with pytest.raises(SamplingError, match="whole counts"):
        allocate(frac, 100, stratum="stratum", size="pop_size")
    with pytest.raises(SamplingError, match="negative|>= 0"):
        allocate(fr.assign(sd=[1, 2, -3, 4, 5]), 100, stratum="stratum", size="pop_size", method="neyman", sd="sd")
    nan_stratum = fr.assign(stratum=["Capital", None, "Highlands", "Islands", "Plains"])
    with pytest.raises(SamplingError, match="missing stratum labels in rows 1"):
        allocate(nan_stratum, 100, stratum="stratum", size="pop_size")


# --------------------------------------------------------------------------------------
# hypothesis invariants
# --------------------------------------------------------------------------------------
def _iterative_capped(n, w, N):
    """Independent re-implementation of the c19 R loop (caps only)."""
    cap = np.zeros(len(w), bool)
    alloc = n * w / w.sum()
    while True:
        over = ~cap & (alloc > N)
        if not over.any():
            return alloc
        cap |= over
        rest = n - N[cap].sum()
        with np.errstate(divide="ignore", invalid="ignore"):  # all strata capped: the other branch is unused
            alloc = np.where(cap, N, rest * w / w[~cap].sum())


@st.composite
def _problems(draw):
    H = draw(st.integers(1, 15))
    N = np.array(draw(st.lists(st.integers(1, 3000), min_size=H, max_size=H)), float)
    sd = np.array(draw(st.lists(st.floats(0.1, 100.0), min_size=H, max_size=H)))
    mn = draw(st.integers(0, 40))
    lo = int(np.minimum(mn, N).sum())
    n = draw(st.integers(max(lo, 1), int(N.sum())))
    method = draw(st.sampled_from(["proportional", "equal", "neyman", "power", "optimal"]))
    q = draw(st.floats(0.0, 1.0))
    cost = np.array(draw(st.lists(st.floats(0.5, 20.0), min_size=H, max_size=H)))
    return N, sd, mn, n, method, q, cost


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_problems())
def test_allocation_invariants(problem):
    N, sd, mn, n, method, q, cost = problem
    fr = pd.DataFrame({"s": [f"h{i}" for i in range(len(N))], "N": N.astype(int), "sd": sd, "c": cost})
    out = allocate(fr, n, "s", "N", method=method, sd="sd", cost="c", power=q, min_per_stratum=mn)
    nh = out["n"].to_numpy()
    assert nh.sum() == n
    assert (nh >= 0).all() and (nh <= N).all()
    assert (nh >= np.minimum(mn, N)).all()
    assert (np.abs(nh - out["n_exact"].to_numpy()) < 1).all()
    assert out["n_exact"].sum() == pytest.approx(n, rel=1e-9)


@settings(max_examples=200, deadline=None)
@given(_problems())
def test_neyman_equals_iterative_r_loop_without_minimum(problem):
    N, sd, _, n, _, _, _ = problem
    fr = pd.DataFrame({"s": [f"h{i}" for i in range(len(N))], "N": N.astype(int), "sd": sd})
    out = allocate(fr, n, "s", "N", method="neyman", sd="sd")
    np.testing.assert_allclose(out["n_exact"], _iterative_capped(n, N * sd, N), rtol=1e-9, atol=1e-7)


# ======================================================================================
# select
# ======================================================================================
def _village_frame(seed=0, sizes=(12, 9, 7)):
    rng = np.random.default_rng(seed)
    communes = ["Đồng Tâm", "Tân Thịnh", "Văn Tiến"][: len(sizes)]
    fr = pd.DataFrame(
        {
            "commune": np.repeat(communes, sizes),
            "village": [f"V{i:03d}" for i in range(sum(sizes))],
            "hh": rng.integers(45, 260, sum(sizes)),
        }
    )
    return fr


def _households(villages):
    hh = villages.loc[villages.index.repeat(villages["hh"]), ["village"]].reset_index(drop=True)
    hh["household"] = np.arange(len(hh))
    return hh


class TestSelect:
    def test_srs_counts_probabilities_and_weights(self):
        hh = pd.DataFrame({"commune": np.repeat(["A", "B"], [300, 120]), "x": np.arange(420)})
        s = select(hh, {"A": 30, "B": 12}, "srs", seed=3, stratum="commune")
        assert s.groupby("commune").size().to_dict() == {"A": 30, "B": 12}
        assert np.allclose(s.loc[s.commune == "A", "pi"], 0.1)
        assert (s["pi2"] == 1).all() and np.allclose(s["design_weight"], 10.0)
        assert s["design_weight"].sum() == pytest.approx(420)
        assert s["fpc1"].tolist() == [300] * 30 + [120] * 12
        assert s.attrs["pi1_sums"] == {"A": pytest.approx(30), "B": pytest.approx(12)}
        assert not s.index.duplicated().any() and set(s.index) <= set(hh.index)

    def test_reproducible_with_seed(self):
        fr = _village_frame()
        kw = dict(stratum="commune", size="hh", psu="village")
        a = select(fr, {"Đồng Tâm": 3, "Tân Thịnh": 2, "Văn Tiến": 2}, "pps_systematic", seed=11, **kw)
        b = select(fr, {"Đồng Tâm": 3, "Tân Thịnh": 2, "Văn Tiến": 2}, "pps_systematic", seed=11, **kw)
        pd.testing.assert_frame_equal(a, b)
        draws = {
            tuple(select(fr, {"Đồng Tâm": 3, "Tân Thịnh": 2, "Văn Tiến": 2}, "pps_systematic", seed=k, **kw)["village"])
            for k in range(10)
        }
        assert len(draws) > 1
        hh = _households(fr)
        c = select(
            fr,
            {"Đồng Tâm": 3, "Tân Thịnh": 2, "Văn Tiến": 2},
            "pps_systematic",
            seed=5,
            units=hh,
            households_per_psu=40,
            **kw,
        )
        d = select(
            fr,
            {"Đồng Tâm": 3, "Tân Thịnh": 2, "Văn Tiến": 2},
            "pps_systematic",
            seed=5,
            units=hh,
            households_per_psu=40,
            **kw,
        )
        pd.testing.assert_frame_equal(c, d)

    def test_systematic_spacing(self):
        fr = pd.DataFrame({"id": range(10)})
        for seed in range(20):
            s = select(fr, 4, "systematic", seed=seed)
            pos = s["id"].to_numpy()
            assert len(pos) == 4
            # interval 2.5: gaps are 2 or 3
            assert set(np.diff(pos)) <= {2, 3}
            assert np.allclose(s["pi"], 0.4) and s["design_weight"].sum() == pytest.approx(10)

    def test_pps_certainty_iterative_hand_worked(self):
        # sizes 100, 60, 10, 10, 10, 10 and n = 3: I = 200/3 = 66.7 -> 100 certain;
        # then I = 100/2 = 50 -> 60 certain; then I = 40/1 = 40 -> the 10s get pi = .25
        fr = pd.DataFrame({"v": list("abcdef"), "size": [100, 60, 10, 10, 10, 10]})
        for seed in range(5):
            s = select(fr, 3, "pps_systematic", seed=seed, size="size", psu="v")
            assert len(s) == 3
            assert {"a", "b"} <= set(s["v"])
            assert s.set_index("v").loc[["a", "b"], "certainty"].all()
            assert s.set_index("v").loc[["a", "b"], "pi1"].tolist() == [1.0, 1.0]
            other = s[~s["certainty"]]
            assert other["pi1"].tolist() == [0.25] and other["design_weight"].tolist() == [4.0]
        assert s.attrs["pi1_sums"] == {None: pytest.approx(3.0)}

    def test_pps_take_all_stratum(self):
        # n_h = number of PSUs: every PSU becomes a certainty selection, pi1 = 1
        fr = pd.DataFrame({"v": list("abc"), "size": [1, 2, 3]})
        s = select(fr, 3, "pps_systematic", seed=1, size="size", psu="v")
        assert s["v"].tolist() == ["a", "b", "c"] and (s["pi1"] == 1).all() and s["certainty"].all()
        with pytest.warns(LonelyPSUWarning, match="the unstratified frame has a single selected PSU"):
            select(fr, 1, "pps_systematic", seed=1, size="size", psu="v")

    def test_pps_inclusion_probabilities_sum_to_nh(self):
        fr = _village_frame()
        fr.loc[0, "hh"] = 5000  # a certainty PSU in Đồng Tâm
        alloc = {"Đồng Tâm": 4, "Tân Thịnh": 3, "Văn Tiến": 2}
        s = select(fr, alloc, "pps_systematic", seed=2, stratum="commune", size="hh", psu="village")
        for k, v in alloc.items():
            assert s.attrs["pi1_sums"][k] == pytest.approx(v)
        assert s.groupby("commune").size().to_dict() == alloc
        assert s.set_index("village").loc["V000", "pi1"] == 1.0
        # non-certainty: pi = n' M_i / sum(M') within the commune
        dt = fr[fr.commune == "Đồng Tâm"].iloc[1:]
        expect = 3 * dt["hh"] / dt["hh"].sum()
        got = s[(s.commune == "Đồng Tâm") & ~s.certainty].set_index("village")["pi1"]
        np.testing.assert_allclose(got, expect.set_axis(dt["village"]).loc[got.index])

    def test_two_stage_self_weighting_columns(self):
        fr = _village_frame()
        hh = _households(fr)
        alloc = {"Đồng Tâm": 3, "Tân Thịnh": 2, "Văn Tiến": 2}
        s = select(
            fr,
            alloc,
            "pps_systematic",
            seed=7,
            stratum="commune",
            size="hh",
            psu="village",
            units=hh,
            households_per_psu=40,
        )
        assert s.groupby("village").size().eq(40).all()
        assert s.groupby("commune")["village"].nunique().to_dict() == alloc
        # size = listed households, so pi = n_h * 40 / (households in commune): self-weighting
        tot = fr.groupby("commune")["hh"].sum()
        np.testing.assert_allclose(s["pi"], s["commune"].map(lambda c: alloc[c] * 40 / tot[c]))
        np.testing.assert_allclose(s["pi2"], 40 / s["fpc2"])
        assert (s["fpc2"] == s["village"].map(fr.set_index("village")["hh"])).all()
        assert s["fpc1"].tolist() == s["commune"].map({"Đồng Tâm": 12, "Tân Thịnh": 9, "Văn Tiến": 7}).tolist()
        assert {"pi1", "pi2", "pi", "design_weight", "certainty", "household"} <= set(s.columns)
        assert not s["household"].duplicated().any()

    def test_two_stage_small_psu_taken_completely(self):
        fr = pd.DataFrame({"village": ["a", "b"], "hh": [30, 100]})
        hh = _households(fr)
        with pytest.warns(HappinessIndexWarning, match="fewer than 40 units"):
            s = select(fr, 2, "pps_systematic", seed=1, size="hh", psu="village", units=hh, households_per_psu=40)
        assert s.groupby("village").size().to_dict() == {"a": 30, "b": 40}
        assert s.set_index("village")["pi2"].groupby(level=0).first().to_dict() == {"a": 1.0, "b": 0.4}

    def test_two_stage_srs_first_stage(self):
        fr = _village_frame()
        hh = _households(fr)
        s = select(
            fr,
            {"Đồng Tâm": 4, "Tân Thịnh": 3, "Văn Tiến": 2},
            "srs",
            seed=1,
            stratum="commune",
            psu="village",
            units=hh,
            households_per_psu=10,
        )
        assert np.allclose(s.loc[s.commune == "Đồng Tâm", "pi1"], 4 / 12)
        assert len(s) == 90

    def test_lonely_psu_warning(self):
        fr = _village_frame()
        with pytest.warns(LonelyPSUWarning, match="'Văn Tiến' has a single selected PSU"):
            select(
                fr,
                {"Đồng Tâm": 3, "Tân Thịnh": 2, "Văn Tiến": 1},
                "pps_systematic",
                seed=1,
                stratum="commune",
                size="hh",
                psu="village",
            )
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            select(
                fr,
                {"Đồng Tâm": 3, "Tân Thịnh": 2, "Văn Tiến": 2},
                "pps_systematic",
                seed=1,
                stratum="commune",
                size="hh",
                psu="village",
            )

    def test_allocation_dataframe_from_allocate(self):
        fr = _village_frame()
        counts = fr.groupby("commune", sort=False).size().rename("N").reset_index()
        alloc = allocate(counts, 7, stratum="commune", size="N", min_per_stratum=2)
        s = select(fr, alloc, "srs", seed=1)  # stratum column taken from alloc.attrs
        assert s.groupby("commune").size().to_dict() == dict(zip(alloc["stratum"], alloc["n"]))

    def test_nfc_matching_and_input_untouched(self):
        fr = _village_frame()
        fr_nfd = fr.assign(commune=fr["commune"].map(lambda s: unicodedata.normalize("NFD", s)))
        before = fr_nfd.copy()
        s = select(fr_nfd, {"Đồng Tâm": 2, "Tân Thịnh": 2, "Văn Tiến": 2}, "srs", seed=1, stratum="commune")
        pd.testing.assert_frame_equal(fr_nfd, before)
        assert all(unicodedata.is_normalized("NFC", c) for c in s["commune"])
        assert "pi" not in fr_nfd.columns

    @pytest.mark.parametrize(
        "alloc, kwargs, match",
        [
            (
                {"Đồng Tâm": 20, "Tân Thịnh": 2, "Văn Tiến": 2},
                {},
                "larger than the number of frame units in strata 'Đồng Tâm' \\(n_h=20, N_h=12\\)",
            ),
            ({"Đồng Tâm": 2, "Tân Thịnh": 2, "Văn Tiến": 2, "Mars": 1}, {}, "strata not in the frame: 'Mars'"),
            ({"Đồng Tâm": 2, "Tân Thịnh": 2}, {}, "no sample size for strata 'Văn Tiến'"),
            (5, {}, "integer allocation is for an unstratified frame"),
            (
                {"Đồng Tâm": 2, "Tân Thịnh": 2, "Văn Tiến": 2},
                {"method": "cluster"},
                "unknown selection method 'cluster'",
            ),
            ({"Đồng Tâm": 2, "Tân Thịnh": 2, "Văn Tiến": 2}, {"method": "pps_systematic", "size": None}, "needs size="),
            (
                {"Đồng Tâm": 2, "Tân Thịnh": 2, "Văn Tiến": 2},
                {"method": "srs", "size": "hh"},
                "only used by method='pps_systematic'",
            ),
            ({"Đồng Tâm": 2, "Tân Thịnh": 2, "Văn Tiến": 2}, {"households_per_psu": 40}, "needs both units="),
        ],
    )
    def test_errors(self, alloc, kwargs, match):
        fr = _village_frame()
        args = dict(method="pps_systematic", stratum="commune", size="hh", psu="village")
        args.update(kwargs)
        method = args.pop("method")
        with pytest.raises(SamplingError, match=match):
            select(fr, alloc, method, seed=1, **args)

    def test_errors_sizes_psus_units(self):
        fr = _village_frame()
        alloc = {"Đồng Tâm": 2, "Tân Thịnh": 2, "Văn Tiến": 2}
        kw = dict(stratum="commune", size="hh", psu="village")
        with pytest.raises(SamplingError, match="must be > 0 for every PSU; .* rows 4"):
            select(fr.assign(hh=fr["hh"].where(fr.index != 4, 0)), alloc, "pps_systematic", seed=1, **kw)
        dup = fr.assign(village=fr["village"].where(fr.index != 5, "V000"))
        with pytest.raises(SamplingError, match="must be unique .* 'V000'"):
            select(dup, alloc, "pps_systematic", seed=1, **kw)
        hh = _households(fr)
        bad = pd.concat([hh, pd.DataFrame({"village": ["ZZZ"], "household": [-1]})], ignore_index=True)
        with pytest.raises(SamplingError, match="not a PSU of the frame: 'ZZZ'"):
            select(fr, alloc, "pps_systematic", seed=1, units=bad, households_per_psu=5, **kw)
        with pytest.raises(SamplingError, match="already has column"):
            select(fr.assign(pi=1.0), alloc, "pps_systematic", seed=1, **kw)


# --------------------------------------------------------------------------------------
# Horvitz-Thompson unbiasedness by seeded simulation (fast: < 5 s together)
# --------------------------------------------------------------------------------------
def _mean_and_se(x):
    x = np.asarray(x, float)
    return x.mean(), x.std(ddof=1) / math.sqrt(len(x))


def test_ht_weights_sum_to_frame_size_srs_and_systematic():
    # SRS and systematic within strata: sum of 1/pi = N_h * n_h / n_h exactly, every sample
    hh = pd.DataFrame({"commune": np.repeat(["A", "B", "C"], [137, 59, 204])})
    for method in ("srs", "systematic"):
        for seed in range(30):
            s = select(hh, {"A": 13, "B": 7, "C": 11}, method, seed=seed, stratum="commune")
            assert s["design_weight"].sum() == pytest.approx(400)
    # and every unit is equally likely to be drawn (frequency ~ n_h / N_h)
    rng = np.random.default_rng(2024)
    counts = np.zeros(len(hh))
    R = 400
    for _ in range(R):
        s = select(hh, {"A": 13, "B": 7, "C": 11}, "srs", seed=rng, stratum="commune")
        counts[s.index.to_numpy()] += 1
    pi = hh["commune"].map({"A": 13 / 137, "B": 7 / 59, "C": 11 / 204}).to_numpy()
    zstat = (counts.sum() - R * pi.sum()) / math.sqrt(R * (pi * (1 - pi)).sum())
    assert abs(zstat) < 4
    # per-stratum empirical frequencies
    for c, p in {"A": 13 / 137, "B": 7 / 59, "C": 11 / 204}.items():
        m = (hh["commune"] == c).to_numpy()
        assert counts[m].mean() / R == pytest.approx(p, rel=1e-12)  # exact: n_h drawn each time


@pytest.mark.slow  # a simulation: 400 replications of two selections each (~6 s)
def test_ht_pps_and_two_stage_unbiased_by_simulation():
    fr = _village_frame(seed=4, sizes=(15, 10, 8))
    fr.loc[3, "hh"] = 1200  # a certainty PSU
    hh = _households(fr)
    # the measure of size is an out-of-date count, so the sample is not self-weighting and
    # the sum of the weights varies from sample to sample
    fr["hh"] = np.round(fr["hh"] * np.random.default_rng(5).uniform(0.6, 1.4, len(fr))).astype(int)
    alloc = {"Đồng Tâm": 4, "Tân Thịnh": 3, "Văn Tiến": 2}
    rng = np.random.default_rng(99)
    R = 400
    psu_sums, hh_sums = [], []
    freq = pd.Series(0.0, index=fr["village"])
    for _ in range(R):
        s1 = select(fr, alloc, "pps_systematic", seed=rng, stratum="commune", size="hh", psu="village")
        psu_sums.append(s1["design_weight"].sum())
        freq[s1["village"]] += 1
        s2 = select(
            fr,
            alloc,
            "pps_systematic",
            seed=rng,
            stratum="commune",
            size="hh",
            psu="village",
            units=hh,
            households_per_psu=20,
        )
        hh_sums.append(s2["design_weight"].sum())
    m, se = _mean_and_se(psu_sums)
    assert abs(m - len(fr)) < 4 * se, (m, se)  # E[sum 1/pi1] = number of PSUs
    m, se = _mean_and_se(hh_sums)
    assert abs(m - len(hh)) < 4 * se, (m, se)  # E[sum w] = number of households
    assert se > 0
    # empirical inclusion frequencies agree with pi1 (systematic PPS is exact in pi)
    pi = select(fr, alloc, "pps_systematic", seed=0, stratum="commune", size="hh", psu="village").attrs
    tot = fr.groupby("commune")["hh"].transform("sum")
    # expected pi1 for every village from one full run of the frame
    full = fr.assign(pi1=np.nan)
    for c, n in alloc.items():
        sub = fr[fr.commune == c]
        cert = sub["hh"] >= sub["hh"].sum() / n
        rest = sub[~cert]
        full.loc[sub.index, "pi1"] = np.where(cert, 1.0, (n - cert.sum()) * sub["hh"] / rest["hh"].sum())
    p = full.set_index("village")["pi1"]
    zs = (freq - R * p) / np.sqrt(R * p * (1 - p)).replace(0, np.inf)
    assert (zs.abs() < 4.5).all(), zs[zs.abs() >= 4.5]
    assert freq[p == 1.0].eq(R).all()
    assert pi["pi1_sums"]["Đồng Tâm"] == pytest.approx(4) and tot.gt(0).all()


# ======================================================================================
# the example script
# ======================================================================================
def test_example_design_city_sample_runs():
    script = ROOT / "examples" / "design_city_sample.py"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    res = subprocess.run(
        [sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True, encoding="utf-8", timeout=120
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert res.returncode == 0, res.stderr
    # CPU time of the script (about 1.5 s), robust to a loaded machine unlike wall-clock time
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert cpu < 10, cpu
    out = res.stdout
    for name in ["Đồng Tâm", "Nguyễn Thái Học", "Hợp Minh", "Âu Lâu", "Văn Tiến"]:
        assert name in out
    assert "Recommended allocation" in out
    # numbers quoted in methodology/sampling.md
    for quoted in [
        "2,436 completed interviews, 2,866 households to contact",
        "5,709 interviews (6,715 contacts)",
        "17 / 17",
        "city-wide margin of error: ±1.26 points",
        "2,077 interviews city-wide",
        "185 areas x 40 = 7,400 households",
        "sum of design weights 33,280",
    ]:
        assert quoted in out, quoted
    doc = (ROOT / "methodology" / "sampling.md").read_text(encoding="utf-8")
    for quoted in [
        "| Đồng Tâm | ward | 3,850 | 380 | 522 | 615 | 16 | 0.136 | ±4.17 |",
        "±1.26 points",
        "**2,077 interviews**",
        "| Văn Tiến | xã | 720 | 266 | 266 | 313 | 8 | 0,369 | ±4,99 |",
    ]:
        assert quoted in doc, quoted


# ======================================================================================
# the selected sample declares a SurveyDesign (design.py) directly
# ======================================================================================
def test_select_output_declares_survey_design():
    fr = _village_frame(seed=8)
    hh = _households(fr).assign(one=1.0)
    alloc = {"Đồng Tâm": 4, "Tân Thịnh": 3, "Văn Tiến": 3}
    s = select(fr, alloc, "srs", seed=3, stratum="commune", psu="village", units=hh, households_per_psu=15)
    d = hi.SurveyDesign(
        s, weights="design_weight", strata="commune", psu=["village", "household"], fpc=["fpc1", "fpc2"]
    )
    # SRS at both stages: the weights the design derives from the fpc counts are ours
    d0 = hi.SurveyDesign(s, weights=None, strata="commune", psu=["village", "household"], fpc=["fpc1", "fpc2"])
    np.testing.assert_allclose(d0.weights.to_numpy(), s["design_weight"].to_numpy())
    # the estimated number of households is the HT sum of the weights
    assert d.total("one").estimate == pytest.approx(s["design_weight"].sum())
    assert d.df == 10 - 3


def _synthetic_city(seed=12345):
    """17 communes x 40-70 areas x 40-140 households; a 0/1 outcome correlated within areas."""
    rng = np.random.default_rng(seed)
    names = [
        "Đồng Tâm",
        "Hồng Hà",
        "Minh Tân",
        "Nam Cường",
        "Nguyễn Phúc",
        "Nguyễn Thái Học",
        "Yên Ninh",
        "Yên Thịnh",
        "Hợp Minh",
        "Âu Lâu",
        "Giới Phiên",
        "Minh Bảo",
        "Phúc Lộc",
        "Tân Thịnh",
        "Tuy Lộc",
        "Văn Phú",
        "Văn Tiến",
    ]
    k = rng.integers(40, 71, len(names))
    areas = pd.DataFrame({"commune": np.repeat(names, k)})
    areas["area"] = [f"A{i:04d}" for i in range(len(areas))]
    areas["households"] = rng.integers(40, 141, len(areas))
    commune_effect = pd.Series(rng.normal(0, 0.5, len(names)), index=names)
    area_logit = 1.1 + areas["commune"].map(commune_effect).to_numpy() + rng.normal(0, 0.6, len(areas))
    hh = areas.loc[areas.index.repeat(areas["households"]), ["area"]].reset_index(drop=True)
    hh["household"] = np.arange(len(hh))
    p = 1 / (1 + np.exp(-np.repeat(area_logit, areas["households"].to_numpy())))
    hh["happy"] = (rng.random(len(hh)) < p).astype(float)
    return areas, hh


@pytest.mark.slow
def test_two_stage_design_unbiased_and_se_calibrated_by_simulation():
    """Issue 4 evidence: select, estimate a proportion, repeat: unbiased; mean SE ~ empirical SD.

    PPS systematic selection of 4 areas per commune (first-stage fraction about 7%),
    then 12 households by SRS; analysed as with-replacement PSUs (no fpc at stage 1).
    """
    areas, hh = _synthetic_city()
    truth = hh["happy"].mean()
    alloc = {c: 4 for c in areas["commune"].unique()}
    rng = np.random.default_rng(7)
    R = 400
    est, se = np.empty(R), np.empty(R)
    for r in range(R):
        s = select(
            areas,
            alloc,
            "pps_systematic",
            seed=rng,
            stratum="commune",
            size="households",
            psu="area",
            units=hh,
            households_per_psu=12,
        )
        e = hi.SurveyDesign(s, weights="design_weight", strata="commune", psu="area").mean("happy")
        est[r], se[r] = e.estimate, e.se
    sd = est.std(ddof=1)
    assert abs(est.mean() - truth) < 4 * sd / math.sqrt(R), (est.mean(), truth, sd)
    assert se.mean() == pytest.approx(sd, rel=0.10), (se.mean(), sd)


@settings(max_examples=200, deadline=None)
@given(_problems())
def test_bounded_allocation_satisfies_optimality_conditions(problem):
    """n_h = clip(lam a_h, L_h, N_h): free strata share one lam; strata at a bound lie beyond it."""
    N, sd, mn, n, _, _, _ = problem
    fr = pd.DataFrame({"s": [f"h{i}" for i in range(len(N))], "N": N.astype(int), "sd": sd})
    out = allocate(fr, n, "s", "N", method="neyman", sd="sd", min_per_stratum=mn)
    x, a, L = out["n_exact"].to_numpy(), N * sd, np.minimum(mn, N)
    tol = 1e-7 * max(1.0, n)
    free = (x > L + tol) & (x < N - tol)
    if free.any():
        lam = x[free] / a[free]
        np.testing.assert_allclose(lam, lam[0], rtol=1e-8)
        lam = lam[0]
        pinned = L == N  # minimum >= N_h: taken completely whatever lam is
        at_low = (np.abs(x - L) <= tol) & ~pinned
        at_up = (np.abs(x - N) <= tol) & ~pinned
        assert (a[at_low] * lam <= L[at_low] + tol).all()
        assert (a[at_up] * lam >= N[at_up] - tol).all()


def test_last_years_results_feed_allocation_and_sample_size():
    """A real EstimateTable (by commune) as sd=, and a real Estimate as previous=."""
    areas, hh = _synthetic_city()
    alloc = {c: 4 for c in areas["commune"].unique()}
    s = select(
        areas,
        alloc,
        "pps_systematic",
        seed=3,
        stratum="commune",
        size="households",
        psu="area",
        units=hh,
        households_per_psu=12,
    )
    d = hi.SurveyDesign(s, weights="design_weight", strata="commune", psu="area")
    table = d.by("commune").mean("happy")
    tf = table.to_frame()
    frame = areas.groupby("commune", sort=False)["households"].sum().reset_index()
    out = allocate(frame, 2000, "commune", "households", method="neyman", sd=table)
    S = dict(zip(tf["commune"], tf["se"] * np.sqrt(tf["n"])))
    w = frame["households"] * frame["commune"].map(S)
    np.testing.assert_allclose(out["n_exact"], 2000 * w / w.sum())  # no stratum capped here
    overall = d.mean("happy")
    ss = sample_size(moe=0.02, previous=overall)
    assert ss.n_with_deff == pytest.approx(Z95**2 * overall.se**2 * overall.n / 0.02**2)


# ----------------------------------------------------------------------------------------
# breakit #30: text where counts are needed is refused by allocate, as by select
# ----------------------------------------------------------------------------------------
def test_allocate_refuses_text_sizes():
    fr = pd.DataFrame({"xã": ["Tân Thịnh", "Văn Phú"], "N": ["100", "200"]})
    with pytest.raises(
        SamplingError,
        match=r"size column 'N' must hold numbers \(counts of units\), not "
        r"text: '100', '200' for 'Tân Thịnh', 'Văn Phú'.*pd.to_numeric",
    ):
        allocate(fr, 10, stratum="xã", size="N")
    mixed = pd.DataFrame({"xã": ["A", "B"], "N": [100, "200"]})  # object column, one text cell
    with pytest.raises(SamplingError, match=r"not text: '200' for 'B'"):
        allocate(mixed, 10, stratum="xã", size="N")
    with pytest.raises(SamplingError, match=r"the stratum sizes N_h must hold numbers .*'100' for 'A'"):
        allocate({"A": "100", "B": 200}, 10)
    with pytest.raises(SamplingError, match="got True/False values"):
        allocate(pd.DataFrame({"s": ["A", "B"], "N": [True, True]}), 1, stratum="s", size="N")
    # numbers stored in an object column are fine; the result equals the numeric frame's
    ok = allocate(
        pd.DataFrame({"xã": ["A", "B"], "N": pd.Series([100, 200], dtype=object)}), 10, stratum="xã", size="N"
    )
    assert (
        ok["n"].tolist()
        == allocate(pd.DataFrame({"xã": ["A", "B"], "N": [100, 200]}), 10, stratum="xã", size="N")["n"].tolist()
    )


def test_select_refuses_text_sizes_and_text_allocations():
    fr = pd.DataFrame({"st": ["A"] * 5, "psu": range(5), "hh": [20, 30, "25", 40, 10]})
    with pytest.raises(SamplingError, match=r"size column 'hh' must hold numbers .*'25' in rows 2"):
        select(fr, {"A": 2}, "pps_systematic", seed=1, stratum="st", size="hh", psu="psu")
    fr["hh"] = pd.to_numeric(fr["hh"])
    with pytest.raises(SamplingError, match=r"allocation for stratum 'A' must be a whole number, not text '2'"):
        select(fr, {"A": "2"}, "pps_systematic", seed=1, stratum="st", size="hh", psu="psu")
    assert len(select(fr, {"A": 2}, "pps_systematic", seed=1, stratum="st", size="hh", psu="psu")) == 2

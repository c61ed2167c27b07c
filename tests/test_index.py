"""compute_index: published values, exact Alkire-Foster identification, variance identities,
domains, properties, errors and the seeded coverage simulation."""

from __future__ import annotations

import functools
import json
import math
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import happiness_index as hi
from happiness_index.index.composite import af_happy
from happiness_index.reading.datasets import load_city_survey

ROOT = Path(__file__).resolve().parents[1]
NEF = hi.IndexSpec.from_toml(ROOT / "methodology" / "yen_bai_nef.toml")
GNH = hi.IndexSpec.from_toml(ROOT / "methodology" / "gnh_alkire_foster.toml")
NEF_ITEMS = [
    "ls_income",
    "ls_health",
    "ls_family",
    "ls_social",
    "le_rating",
    "env_nature",
    "env_security",
    "env_services",
]

# published Yên Bái component shares (percent) and indices (2 decimals)
PUBLISHED = [
    ((40.71, 41.6, 31.8), 53.26),
    ((42.87, 45.5, 34.03), 57.32),
    ((55.5, 78.72, 69.82), 62.57),
    ((57.13, 78.91, 68.72), 65.60),
]


@pytest.fixture(scope="module")
def city():
    return load_city_survey(2023)


@pytest.fixture(scope="module")
def city_result(city):
    return hi.compute_index(city, NEF, by="commune")


def _exact_share_data(ls, le, env, n=10000, seed=0):
    """Microdata (17 communes, 10 villages each, equal weights) whose weighted item shares
    give exactly the component shares ls, le, env (percent)."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"respondent_id": np.arange(n)})
    df["commune"] = [f"X{i % 17:02d}" for i in range(n)]
    df["village"] = [f"X{i % 17:02d}-{(i // 17) % 10}" for i in range(n)]
    df["weight"] = 1.0
    targets = {"ls": (ls, [-100, 100, -50, 50]), "le": (le, [0]), "env": (env, [-40, 0, 40])}
    for comp, (share, offsets) in targets.items():
        items = [it for it in NEF_ITEMS if it.startswith(comp)]
        base = round(share * n / 100)
        for it, off in zip(items, offsets):
            k = base + off
            sat = np.zeros(n, dtype=bool)
            sat[rng.permutation(n)[:k]] = True
            df[it] = np.where(sat, rng.choice([4, 5], n), rng.choice([1, 2, 3], n))
    return df


# ---------------------------------------------------------------------------
# published values
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("shares,published", PUBLISHED)
def test_published_yen_bai_from_shares(shares, published):
    ls, le, env = shares
    assert round(hi.index_from_components({"ls": ls, "le": le, "env": env}, NEF), 2) == published
    assert round(hi.index_from_components(shares, "nef_ratio"), 2) == published
    assert hi.index_from_components(shares, "nef_ratio") == pytest.approx(ls * le / env, rel=1e-15)


@pytest.mark.parametrize("shares,published", PUBLISHED)
def test_published_yen_bai_from_microdata(shares, published):
    df = _exact_share_data(*shares)
    before = df.copy()
    res = hi.compute_index(df, NEF, by="commune")
    np.testing.assert_allclose(res.components.estimate, shares, rtol=1e-12)
    assert round(res.overall.estimate, 2) == published
    assert res.overall.ci_method == "log"
    assert res.overall.ci_low < res.overall.estimate < res.overall.ci_high
    pd.testing.assert_frame_equal(df, before)  # input never modified


def test_gnh_published_value():
    assert round(hi.af_gnh_index(0.591, 0.434), 4) == 0.7435
    assert hi.index_from_components({"H_n": 0.591, "A_n": 0.434}, "af_gnh") == pytest.approx(0.743506)
    with pytest.raises(hi.SpecError, match="H_n"):
        hi.af_gnh_index(1.2, 0.4)


def _af_spec(m=50, threshold=0.66):
    w = 1.0 / m
    items = [{"name": f"i{j:02d}", "type": "yes_no", "satisfied": [1], "weight": w} for j in range(m)]
    comps = [{"name": f"d{d}", "items": [f"i{j:02d}" for j in range(d * 10, d * 10 + 10)]} for d in range(m // 10)]
    return hi.IndexSpec.from_dict(
        {
            "name": "af50",
            "preset": "af_gnh",
            "items": items,
            "components": comps,
            "af": {"threshold": threshold},
            "design": {"weights": "weight", "strata": "commune", "psu": "village"},
        }
    )


def _af_microdata(seed=3):
    """10,000 respondents, 50 equally weighted indicators: H_n = 0.591 and A_n = 0.434 exactly.

    5,910 not-yet-happy: 4,137 lack 22 indicators and 1,773 lack 21 (A_n = 128247/295500 =
    0.434). 4,090 happy, of whom 1,000 sit exactly on the threshold (33 of 50 = 0.66).
    """
    rng = np.random.default_rng(seed)
    n, m = 10000, 50
    lack = np.concatenate([np.full(4137, 22), np.full(1773, 21), np.full(1000, 17), rng.integers(0, 17, 3090)])
    rank = np.argsort(rng.random((n, m)), axis=1)
    X = (rank >= lack[:, None]).astype(int)  # lack[i] zeros per row
    df = pd.DataFrame(X, columns=[f"i{j:02d}" for j in range(m)])
    df["commune"] = [f"X{i % 17:02d}" for i in range(n)]
    df["village"] = [f"X{i % 17:02d}-{(i // 17) % 10}" for i in range(n)]
    df["weight"] = 1.0
    return df


def test_gnh_from_microdata_exact_threshold():
    df = _af_microdata()
    res = hi.compute_index(df, _af_spec(), by="commune")
    assert res.af["H_n"].estimate == pytest.approx(0.591, abs=1e-12)
    assert res.af["A_n"].estimate == pytest.approx(0.434, abs=1e-12)
    assert res.overall.estimate == pytest.approx(100 * (1 - 0.591 * 0.434), abs=1e-9)
    assert round(res.overall.estimate / 100, 4) == 0.7435
    assert res.af["n_on_threshold"] == 1000
    assert res.overall.ci_method == "logit" and 0 < res.overall.ci_low < res.overall.ci_high < 100
    # decomposition: indicator contributions sum to 100 %, domains too, groups too
    assert res.af["decomposition_by_indicator"]["contribution_pct"].sum() == pytest.approx(100)
    assert res.af["decomposition_by_domain"]["contribution_pct"].sum() == pytest.approx(100)
    assert res.af["decomposition_by_group"]["contribution_pct"].sum() == pytest.approx(100)


def test_af_identification_is_exact_where_float_sums_are_not():
    # 33 sufficient indicators of weight 0.02: float sums in two orders straddle 0.66
    w = [0.02] * 50
    X = np.zeros((1, 50), dtype=int)
    X[0, :33] = 1
    fwd = sum(0.02 for _ in range(33))
    assert fwd != 0.66  # float summation is not exact here
    happy, share = af_happy(X, w, 0.66)
    assert happy[0]  # exactly on the threshold counts as happy
    X[0, 0] = 0
    assert not af_happy(X, w, 0.66)[0][0]
    # 1/9 weights as decimals are read as exact ninths: 6 of 9 is 2/3 >= 0.66
    X9 = np.array([[1, 1, 1, 1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 0, 0, 0, 0]])
    h, s = af_happy(X9, [0.1111111111111111] * 9, 0.66)
    assert h.tolist() == [True, False]
    np.testing.assert_allclose(s, [6 / 9, 5 / 9])
    with pytest.raises(hi.SpecError, match="non-negative"):
        af_happy(X9, [-0.1] + [0.1] * 8, 0.66)


def test_gnh_bundled_spec_runs():
    rng = np.random.default_rng(5)
    n = 3400
    df = pd.DataFrame(
        {
            "respondent_id": np.arange(n),
            "commune": [f"X{i % 17:02d}" for i in range(n)],
            "village": [f"X{i % 17:02d}-{(i // 17) % 8}" for i in range(n)],
            "weight": rng.uniform(1, 3, n),
            "gnh_life_satisfaction": rng.integers(0, 11, n),
            "gnh_self_health": rng.integers(1, 6, n),
            "gnh_sleep_hours": rng.integers(4, 11, n),
            "gnh_literate": rng.integers(0, 2, n),
            "gnh_cultural_days": rng.integers(0, 15, n),
            "gnh_gov_performance": rng.integers(1, 6, n),
            "gnh_belonging": rng.integers(1, 4, n),
            "gnh_env_responsibility": rng.integers(1, 5, n),
            "gnh_income_pc": rng.integers(500, 5000, n),
        }
    )
    res = hi.compute_index(df, GNH, by="commune")
    H, A = res.af["H_n"].estimate, res.af["A_n"].estimate
    assert res.overall.estimate == pytest.approx(100 * (1 - H * A), rel=1e-12)
    assert A >= 4 / 9  # not-yet-happy lack at least 4 of 9 equally weighted indicators
    assert res.level is not None
    assert set(res.af["decomposition_by_domain"]["domain"]) == {c.name for c in GNH.components}


# ---------------------------------------------------------------------------
# sensitivity and intervals
# ---------------------------------------------------------------------------


def test_nef_sensitivity_hand_worked():
    s = hi.nef_sensitivity(40.71, 41.6, 31.8)
    np.testing.assert_allclose(s["partial_derivative"], [41.6 / 31.8, 40.71 / 31.8, -40.71 * 41.6 / 31.8**2])
    np.testing.assert_allclose(s["elasticity"], [1, 1, -1])
    assert "LOWERS" in s.attrs["note"]["en"] and "exceeds 100" in s.attrs["note"]["en"]
    assert "GIẢM" in s.attrs["note"]["vi"]


def test_result_sensitivity_and_ci_scales(city_result):
    r = city_result
    np.testing.assert_allclose(r.sensitivity["elasticity"], [1, 1, -1], atol=1e-12)
    ls, le, env = r.components.estimate
    np.testing.assert_allclose(r.sensitivity["partial_derivative"], [le / env, ls / env, -ls * le / env**2])
    o = r.overall
    q = hi.survey.estimators.t_quantile(0.95, o.df)
    assert o.ci_low == pytest.approx(o.estimate * math.exp(-q * o.se / o.estimate))
    assert o.ci_high == pytest.approx(o.estimate * math.exp(q * o.se / o.estimate))
    assert "log scale" in r.ci_scale
    # mean_of_shares is bounded: logit interval
    d = NEF.to_dict()
    d.update(preset="mean_of_shares")
    d.pop("formula")
    spec = hi.IndexSpec.from_dict(d)
    m = hi.compute_index(r.spec and load_city_survey(2023), spec)
    p, s = m.overall.estimate / 100, m.overall.se / 100
    qq = hi.survey.estimators.t_quantile(0.95, m.overall.df)
    lo = 100 / (1 + math.exp(-(math.log(p / (1 - p)) - qq * s / (p * (1 - p)))))
    assert m.overall.ci_method == "logit" and m.overall.ci_low == pytest.approx(lo)
    assert m.overall.estimate == pytest.approx(r.components.estimate.mean())


def test_delta_method_equals_component_transform_and_hand_formula(city_result):
    r = city_result
    V = r.components.vcov_matrix()
    ls, le, env = r.components.estimate
    g = np.array([le / env, ls / env, -ls * le / env**2])
    assert r.overall.se == pytest.approx(math.sqrt(g @ V @ g), rel=1e-12)
    assert r.components.transform("ls * le / env").se == pytest.approx(r.overall.se, rel=1e-12)
    # covariances matter: ignoring them gives another SE
    assert abs(math.sqrt(g @ np.diag(np.diag(V)) @ g) - r.overall.se) > 0.01 * r.overall.se
    # component = mean of its item shares (percent), with the item covariance
    it = r.items
    a = np.zeros(len(it))
    a[:4] = 25.0
    assert r.components["ls"].estimate == pytest.approx(a @ it.estimate)
    assert r.components["ls"].se == pytest.approx(math.sqrt(a @ it.vcov_matrix() @ a))


def test_item_shares_match_design_api(city):
    # each item share is an available-case proportion: equal to the design API with na_rm
    res = hi.compute_index(city, NEF)
    des = hi.SurveyDesign(city, weights="weight", strata="commune", psu="village")
    ind = NEF.satisfied_indicators(city)
    data = city.assign(**{f"s_{c}": ind[c] for c in ind.columns})
    des = hi.SurveyDesign(data, weights="weight", strata="commune", psu="village")
    for nm in ["ls_income", "env_services"]:
        e = des.mean(f"s_{nm}", na_rm=True)
        assert res.items[nm].estimate == pytest.approx(e.estimate, rel=1e-12)
        assert res.items[nm].se == pytest.approx(e.se, rel=1e-9)


# ---------------------------------------------------------------------------
# replicate designs
# ---------------------------------------------------------------------------


def test_linearised_and_replicate_agree(city, city_result):
    base = hi.SurveyDesign(city, weights="weight", strata="commune", psu="village")
    lin = city_result.overall.se
    jk = hi.compute_index(city, NEF, design=base.to_replicates("jkn"))
    assert jk.overall.estimate == pytest.approx(city_result.overall.estimate, rel=1e-12)
    assert abs(jk.overall.se / lin - 1) < 0.02
    boot = base.to_replicates("bootstrap", replicates=200, seed=20240601)
    rr = hi.compute_index(city, NEF, design=boot, seed=20240601)
    rd = hi.compute_index(city, NEF, design=boot, replicate_variance="delta")
    # same replicates: re-running the whole index and the delta method agree within 2 %
    assert abs(rr.overall.se / rd.overall.se - 1) < 0.02
    # 200 bootstrap replicates carry ~5 % Monte Carlo error in an SE
    assert abs(rr.overall.se / lin - 1) < 0.15
    assert rr.provenance["seed"] == 20240601 and rr.provenance["replicates"] == 200
    assert "re-computed on every replicate" in rr.variance_method
    # the components table of a replicate result re-evaluates on replicates
    t = rr.components.transform("ls * le / env")
    assert t.se == pytest.approx(rr.overall.se, rel=1e-10)


def test_replicate_by_commune_differences(city, city_result):
    base = hi.SurveyDesign(city, weights="weight", strata="commune", psu="village")
    jk = hi.compute_index(city, NEF, design=base.to_replicates("jkn"), by="commune")
    a = np.array([d.se for d in jk.by_group.differences])
    b = np.array([d.se for d in city_result.by_group.differences])
    assert np.all(np.abs(a / b - 1) < 0.05)


# ---------------------------------------------------------------------------
# domains
# ---------------------------------------------------------------------------


def test_by_commune(city, city_result):
    r = city_result
    bg = r.by_group
    assert len(bg) == city["commune"].nunique() == 17
    # city estimate is the same with and without domains
    r0 = hi.compute_index(city, NEF)
    assert r0.overall.estimate == pytest.approx(r.overall.estimate, rel=1e-14)
    assert r0.overall.se == pytest.approx(r.overall.se, rel=1e-12)
    # each commune equals the index computed on the commune as a subset design
    des = hi.SurveyDesign(city, weights="weight", strata="commune", psu="village")
    name = bg.keys["commune"].iloc[3]
    sub = hi.compute_index(city, NEF, design=des.subset(city["commune"] == name))
    assert bg[name].estimate == pytest.approx(sub.overall.estimate, rel=1e-12)
    assert bg[name].se == pytest.approx(sub.overall.se, rel=1e-9)
    assert bg[name].df == sub.overall.df
    # difference from the city: the city contains the commune, so cov(commune, city) > 0
    d = bg.differences[3]
    assert d.estimate == pytest.approx(bg[name].estimate - r.overall.estimate)
    assert d.se < math.hypot(bg[name].se, r.overall.se)
    hw = [max(e.estimate - e.ci_low, e.ci_high - e.estimate) for e in bg.estimates]
    assert np.all(
        bg.publishable == [e.n >= 30 and e.cv <= 0.3 and e.df >= 5 and h <= 10 for e, h in zip(bg.estimates, hw)]
    )
    f = r.to_frame()
    assert list(f["scope"]).count("city") == 1 and len(f) == 18
    assert {"publishable", "diff_city_pp", "diff_ci_low", "component_env", "level"} <= set(f.columns)


def test_small_commune_not_publishable(city):
    df = city.copy()
    # keep 12 respondents of one commune, spread over its villages (3, 3, 2, 2, 2)
    first = df["commune"] == df["commune"].iloc[0]
    rank = df.groupby("village").cumcount()
    vrank = df["village"].rank(method="dense").astype(int)
    keep = ~first | (rank < np.where(vrank % 5 < 2, 3, 2))
    df = df[keep].reset_index(drop=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = hi.compute_index(df, NEF, by="commune")
    name = df["commune"].iloc[0]
    i = r.by_group.labels.index(name)
    assert r.by_group[name].n == 12
    assert not r.by_group.publishable[i]
    assert "n = 12 < 30" in r.by_group.reasons[i]


# ---------------------------------------------------------------------------
# rules and presets
# ---------------------------------------------------------------------------


def _small_spec(preset, rule="mean_of_item_shares", k=None, **extra):
    comp = {"name": "a", "rule": rule, "items": ["q1", "q2", "q3"]}
    if k is not None:
        comp["k"] = k
    d = {
        "name": "t",
        "preset": preset,
        "scale": "percent",
        "items": [{"name": f"q{j}", "type": "likert5", "satisfied": 4, "missing_codes": [9]} for j in (1, 2, 3)],
        "components": [comp, {"name": "b", "items": ["q1"]}],
    }
    d.update(extra)
    return hi.IndexSpec.from_dict(d)


SMALL = pd.DataFrame({"q1": [5, 4, 1, 2, 9, 5], "q2": [4, 1, 5, 2, 4, 5], "q3": [1, 5, 5, 2, 4, 9]})


@pytest.mark.parametrize(
    "rule,k,expected",
    [
        ("all_satisfied", None, 100 * 1 / 4),  # complete rows 0-3: only none... row0 q3=1 -> no; see below
        ("at_least_k", 2, 100 * 2 / 4),
    ],
)
def test_row_level_rules(rule, k, expected):
    # complete rows (no code 9): 0, 1, 2, 3. satisfied patterns: (1,1,0), (1,0,1), (0,1,1), (0,0,0)
    # all_satisfied: none of them -> 0; at_least_k=2: rows 0, 1, 2 -> 3/4
    spec = _small_spec("mean_of_shares", rule=rule, k=k)
    des = hi.SurveyDesign(SMALL)
    r = hi.compute_index(SMALL, spec, design=des, ci_scale="identity")
    want = {"all_satisfied": 0.0, "at_least_k": 75.0}[rule]
    assert r.components["a"].estimate == pytest.approx(want)


def test_mean_of_item_shares_available_case():
    spec = _small_spec("mean_of_shares")
    r = hi.compute_index(SMALL, spec, design=hi.SurveyDesign(SMALL))
    # q1: 5 answered, 3 satisfied; q2: 6 answered, 4 satisfied; q3: 5 answered, 3 satisfied
    assert r.components["a"].estimate == pytest.approx(100 * (3 / 5 + 4 / 6 + 3 / 5) / 3)
    assert r.components["b"].estimate == pytest.approx(60.0)
    nr = r.diagnostics["item_nonresponse"].set_index("item")
    assert nr.loc["q1", "n_missing"] == 1 and nr.loc["q2", "n_missing"] == 0


def test_mean_score_rescales_to_0_100():
    spec = _small_spec("mean_score")
    r = hi.compute_index(SMALL, spec, design=hi.SurveyDesign(SMALL))
    q1 = np.array([5, 4, 1, 2, 5.0])
    assert r.components["b"].estimate == pytest.approx(100 * ((q1 - 1) / 4).mean())


def test_geometric_zero_component_error_and_floor():
    df = pd.DataFrame({"q1": [1, 2, 1, 2], "q2": [5, 4, 5, 4], "q3": [5, 5, 4, 4]})
    spec = _small_spec("geometric")
    with pytest.raises(hi.EstimationError, match="component 'b' is 0"):
        hi.compute_index(df, spec, design=hi.SurveyDesign(df))
    spec2 = _small_spec("geometric", zero_rule=0.5)
    r = hi.compute_index(df, spec2, design=hi.SurveyDesign(df))
    a = r.components["a"].estimate
    assert r.overall.estimate == pytest.approx(math.sqrt(a * 0.5))


def test_custom_formula_and_safety():
    d = _small_spec("mean_of_shares").to_dict()
    d.update(preset="custom", formula="max(a, b) - 0.5 * min(a, b)")
    r = hi.compute_index(SMALL, hi.IndexSpec.from_dict(d), design=hi.SurveyDesign(SMALL))
    a, b = r.components.estimate
    assert r.overall.estimate == pytest.approx(max(a, b) - 0.5 * min(a, b))
    d["formula"] = "__import__('os').system('echo hi')"
    with pytest.raises(hi.HappinessIndexError):
        hi.IndexSpec.from_dict(d)


# ---------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------


def test_errors(city):
    with pytest.raises(hi.SpecError, match="ls_income"):
        hi.compute_index(city.drop(columns=["ls_income"]), NEF)
    with pytest.raises(hi.DesignError, match="weight"):
        hi.compute_index(city.drop(columns=["weight"]), NEF)
    other = hi.SurveyDesign(city.iloc[:100], weights="weight")
    with pytest.raises(hi.DesignError, match="other data"):
        hi.compute_index(city, NEF, design=other)
    with pytest.raises(hi.EstimationError, match="replicate_variance"):
        hi.compute_index(city, NEF, replicate_variance="bogus")
    with pytest.raises(hi.EstimationError, match="by="):
        hi.compute_index(city, NEF, by="district")
    with pytest.raises(hi.SpecError, match="IndexSpec"):
        hi.compute_index(city, "methodology/yen_bai_nef.toml")
    df = city.copy()
    for c in ["env_nature", "env_security", "env_services"]:
        df[c] = 1
    with pytest.raises(hi.EstimationError, match="env"):
        hi.compute_index(df, NEF)


# ---------------------------------------------------------------------------
# provenance, serialisation, diagnostics
# ---------------------------------------------------------------------------


def test_provenance_and_serialisation(city, city_result):
    r = city_result
    d = r.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["overall"]["estimate"] == pytest.approx(r.overall.estimate)
    p = r.provenance
    assert p["spec_hash"] == NEF.content_hash()
    assert p["library_version"] == hi.__version__
    assert "Taylor" in p["variance_method"]
    again = hi.compute_index(city.copy(), NEF, by="commune")
    assert again.provenance["data_hash"] == p["data_hash"]
    changed = city.copy()
    changed.loc[0, "ls_income"] = 1 if changed.loc[0, "ls_income"] != 1 else 2
    assert hi.compute_index(changed, NEF).provenance["data_hash"] != p["data_hash"]
    # column order does not matter
    assert hi.compute_index(city[city.columns[::-1]], NEF).provenance["data_hash"] == p["data_hash"]
    assert r.level.labels.en.startswith("Level")


def test_diagnostics(city, city_result):
    dg = city_result.diagnostics
    w = city["weight"].to_numpy()
    assert dg["kish_effective_n"] == pytest.approx(w.sum() ** 2 / (w**2).sum())
    assert set(dg["deff"]) == {"ls", "le", "env", "index"}
    # a one-item component's deff equals the design API's deff of that proportion
    ind = NEF.satisfied_indicators(city)
    data = city.assign(s_le=ind["le_rating"])
    des = hi.SurveyDesign(data, weights="weight", strata="commune", psu="village")
    e = des.mean("s_le", na_rm=True, deff=True)
    if ind["le_rating"].isna().sum() == 0:
        assert dg["deff"]["le"] == pytest.approx(e.deff, rel=1e-9)
    assert 0 < dg["cronbach_alpha"]["ls"] <= 1
    assert math.isnan(dg["cronbach_alpha"]["le"])  # one item: undefined
    ia = dg["item_analysis"]
    assert set(ia["component"]) == {"ls", "le", "env"}


def test_cronbach_alpha_hand_worked():
    X = np.array([[1, 2], [2, 3], [3, 3], [4, 5]], dtype=float)
    assert hi.cronbach_alpha(X) == pytest.approx(0.96)
    # integer weights = duplicated rows
    Xd = np.vstack([X, X[:1]])
    assert hi.cronbach_alpha(X, weights=[2, 1, 1, 1]) == pytest.approx(hi.cronbach_alpha(Xd))
    ia = hi.item_analysis(pd.DataFrame(X, columns=["a", "b"]))
    assert ia["mean"].tolist() == pytest.approx([2.5, 3.25])
    assert math.isnan(hi.cronbach_alpha(X[:, :1]))
    with pytest.raises(hi.EstimationError, match="weights"):
        hi.cronbach_alpha(X, weights=[1, 2])


# ---------------------------------------------------------------------------
# properties
# ---------------------------------------------------------------------------

SUB = load_city_survey(2023).groupby("village").head(8).reset_index(drop=True)


@functools.lru_cache(maxsize=1)
def _sub_index():
    """The index of SUB, computed once for every hypothesis example (results are not mutated)."""
    return hi.compute_index(SUB, NEF, by="commune", diagnostics=False)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    perm=st.permutations(["ls_income", "ls_health", "ls_family", "ls_social"]),
    scale=st.floats(0.01, 1000.0),
    row=st.integers(0, len(SUB) - 1),
)
def test_invariances(perm, scale, row):
    base = _sub_index()
    # permuting the items within a component
    d = NEF.to_dict()
    d["components"][0]["items"] = list(perm)
    r1 = hi.compute_index(SUB, hi.IndexSpec.from_dict(d), by="commune", diagnostics=False)
    # scaling the weights
    r2 = hi.compute_index(SUB.assign(weight=SUB["weight"] * scale), NEF, by="commune", diagnostics=False)
    # adding a zero-weight respondent (a copy of some row, in an existing village)
    extra = SUB.iloc[[row]].assign(weight=0.0, respondent_id="zero")
    r3 = hi.compute_index(pd.concat([SUB, extra], ignore_index=True), NEF, by="commune", diagnostics=False)
    for r in (r1, r2, r3):
        assert r.overall.estimate == pytest.approx(base.overall.estimate, rel=1e-10)
        assert r.overall.se == pytest.approx(base.overall.se, rel=1e-8)
        assert r.overall.df == base.overall.df
        np.testing.assert_allclose(r.by_group.estimate, base.by_group.estimate, rtol=1e-10)
        np.testing.assert_allclose(r.by_group.se, base.by_group.se, rtol=1e-8)


# ---------------------------------------------------------------------------
# coverage simulation
# ---------------------------------------------------------------------------


def _population(seed=11, communes=17, villages=30, size=150):
    rng = np.random.default_rng(seed)
    C, V = communes, villages
    vil = np.repeat(np.arange(C * V), size)
    com = vil // V
    ceff = rng.normal(0, 0.3, C)[com]
    veff = rng.normal(0, 0.35, C * V)[vil]
    pers = rng.normal(0, 0.5, len(vil))
    pop = pd.DataFrame({"commune": com, "village": vil})
    for it in NEF_ITEMS:
        b = {"ls": 0.3, "le": 0.6, "env": 0.4}[it.split("_")[0]]
        lat = b + ceff + veff + pers + rng.normal(0, 0.8, len(vil))
        pop[it] = np.clip(np.round(3 + lat), 1, 5).astype(int)
    return pop


@pytest.mark.slow
def test_coverage_nef_ratio_two_stage():
    """Stratified two-stage sample (6 of 30 villages per commune, 12 people per village):
    the 95 % log-scale interval covers the finite-population index in about 95 % of samples."""
    pop = _population()
    ind = NEF.satisfied_indicators(pop)
    share = ind.mean() * 100
    true = share[NEF_ITEMS[:4]].mean() * share["le_rating"] / share[NEF_ITEMS[5:]].mean()
    rng = np.random.default_rng(2024)
    V, m_v, m_p, size = 30, 6, 12, 150
    hits, n_sim = 0, 500
    vil_start = np.arange(17 * V) * size
    for _ in range(n_sim):
        chosen = np.concatenate([c * V + rng.choice(V, m_v, replace=False) for c in range(17)])
        rows = (vil_start[chosen][:, None] + np.array([rng.choice(size, m_p, replace=False) for _ in chosen])).ravel()
        s = pop.iloc[rows].reset_index(drop=True)
        s["weight"] = (V / m_v) * (size / m_p)
        s["fpc1"] = V
        s["fpc2"] = size
        s["person"] = rows
        des = hi.SurveyDesign(s, weights="weight", strata="commune", psu=["village", "person"], fpc=["fpc1", "fpc2"])
        r = hi.compute_index(s, NEF, design=des, diagnostics=False)
        hits += r.overall.ci_low <= true <= r.overall.ci_high
    cover = hits / n_sim
    print(f"coverage of the 95% nef_ratio interval: {cover:.3f} over {n_sim} samples")
    assert 0.91 <= cover <= 0.985


# ---------------------------------------------------------------------------
# methodology/index.md worked examples
# ---------------------------------------------------------------------------


def test_methodology_worked_examples():
    doc = (ROOT / "methodology" / "index.md").read_text(encoding="utf-8")
    z = 1.959963984540054
    ls, le, env = 40.71, 41.6, 31.8
    V = np.array([[1.44, 0.60, 0.50], [0.60, 2.25, 0.45], [0.50, 0.45, 1.00]])
    tab = hi.EstimateTable(
        [
            hi.survey.estimators.make_estimate(nm, v, V[i, i], math.inf)
            for i, (nm, v) in enumerate(zip(["ls", "le", "env"], [ls, le, env]))
        ],
        pd.DataFrame({"component": ["ls", "le", "env"]}),
        ["ls", "le", "env"],
        V,
        df=math.inf,
    )
    e = tab.transform("ls * le / env", ci_scale="log")
    g = tab.gradient_of("ls * le / env").to_numpy()
    for txt in (
        f"HI = {e.estimate:.4f}",
        f"g = ({g[0]:.5f}, {g[1]:.5f}, −{-g[2]:.5f})",
        f"Var(HI) = {e.se**2:.4f}",
        f"SE = {e.se:.4f}",
        f"{math.sqrt(g @ np.diag(np.diag(V)) @ g):.4f}",
        f"**{e.ci_low:.2f} to {e.ci_high:.2f}**",
        f"Wald: {e.estimate - z * e.se:.2f} to {e.estimate + z * e.se:.2f}",
        f"SE = {e.se:.4f}".replace(".", ","),
        f"**{e.ci_low:.2f} đến {e.ci_high:.2f}**".replace(".", ","),
    ):
        assert txt in doc, txt
    # the published table and the AF value
    for shares, pub in PUBLISHED:
        v = hi.index_from_components(shares, "nef_ratio")
        assert f"| {v:.4f} | {pub:.2f} |" in doc
    assert f"= {hi.af_gnh_index(0.591, 0.434):.6f}" in doc
    # the logit example: 76.0 with SE 1.5
    p, s = 0.76, 0.015
    lo = 100 / (1 + math.exp(-(math.log(p / (1 - p)) - z * s / (p * (1 - p)))))
    up = 100 / (1 + math.exp(-(math.log(p / (1 - p)) + z * s / (p * (1 - p)))))
    assert f"**{lo:.2f} to {up:.2f}**" in doc
    assert f"**{lo:.2f} đến {up:.2f}**".replace(".", ",") in doc


# ---------------------------------------------------------------------------
# commune index and commune-minus-city difference against R survey
# ---------------------------------------------------------------------------


def _r_check_data(seed=77):
    """17 communes x 4 villages x 15 respondents, Likert 1-5 with 8/9 missing codes (seeded)."""
    rng = np.random.default_rng(seed)
    vil = np.repeat(np.arange(68), 15)
    com = vil // 4
    df = pd.DataFrame(
        {
            "respondent_id": np.arange(len(vil)),
            "commune": [f"C{c + 1:02d}" for c in com],
            "village": vil,
            "weight": rng.uniform(20, 60, 17)[com] * rng.uniform(0.8, 1.25, len(vil)),
        }
    )
    eff = rng.normal(0, 0.4, 68)[vil] + rng.normal(0, 0.5, len(vil))
    for it in NEF_ITEMS:
        code = np.clip(np.round(3.2 + eff + rng.normal(0, 0.9, len(vil))), 1, 5).astype(int)
        df[it] = np.where(rng.random(len(vil)) < 0.04, rng.choice([8, 9], len(vil)), code)
    return df


# R 4.2 / survey 4.1.1, on _r_check_data() with s_<item> = satisfied indicator (NA if missing),
# y_<item> = ifelse(is.na(s), 0, s), r_<item> = !is.na(s), cid = commune number:
#   des <- svydesign(id=~village, strata=~cid, weights=~weight, data=d)
#   tb  <- svyby(~y_ls_income+...+r_env_services, ~cid, des, svytotal, covmat=TRUE)
#   svycontrast(tb, list(city=<HI of the summed totals>, c1=<HI of commune 1>, d1=c1-city, ...))
# where HI = (100*(sum of 4 ls shares)/4) * (100*le share) / (100*(sum of 3 env shares)/3),
# each share = `c:y_item` / `c:r_item` (city: sums over c = 1..17).
R_COMMUNE = {  # label: (estimate, se)
    "city": (41.884966922549182, 2.55013798177586),
    "c1": (38.406386581250992, 5.73586958713218),
    "d1": (-3.478580341298191, 5.86752520125109),
    "c5": (26.075192600208847, 10.80690760539698),
    "d5": (-15.809774322340335, 10.66431139535295),
    "c17": (42.294420585516939, 15.19316496932239),
    "d17": (0.409453662967756, 14.34941650686362),
}


def test_commune_and_difference_match_r():
    df = _r_check_data()
    r = hi.compute_index(df, NEF, by="commune")
    for key, (est, se) in R_COMMUNE.items():
        if key == "city":
            e = r.overall
        elif key.startswith("d"):
            e = r.by_group.differences[r.by_group.labels.index(f"C{int(key[1:]):02d}")]
        else:
            e = r.by_group[f"C{int(key[1:]):02d}"]
        assert e.estimate == pytest.approx(est, rel=1e-10), key
        assert e.se == pytest.approx(se, rel=1e-8), key


def test_geometric_zero_in_one_commune_is_flagged_not_zero():
    df = pd.DataFrame(
        {
            "q1": [1, 2, 5, 4, 5, 4, 1, 5],
            "q2": [5, 4, 5, 4, 2, 5, 4, 5],
            "q3": [5, 5, 4, 4, 2, 4, 5, 1],
            "g": list("AAAABBBB"),
            "psu": [1, 2, 3, 4, 5, 6, 7, 8],
        }
    )
    spec = _small_spec("geometric")
    # component b (= item q1) is 0 in commune A: A's geometric mean is undefined, not 0
    df2 = df.assign(q1=[1, 2, 1, 2, 5, 4, 1, 5])
    with pytest.warns(hi.HappinessIndexWarning, match="undefined in 1 domain"):
        r2 = hi.compute_index(df2, spec, design=hi.SurveyDesign(df2, strata="g", psu="psu"), by="g")
    assert math.isnan(r2.by_group["A"].estimate)
    assert not r2.by_group.publishable[0]
    assert "['b'] equal 0" in r2.by_group.reasons[0]
    assert math.isfinite(r2.overall.estimate)


def test_replicate_delta_by_group_vcov(city):
    base = hi.SurveyDesign(city, weights="weight", strata="commune", psu="village")
    r = hi.compute_index(city, NEF, design=base.to_replicates("jkn"), by="commune", replicate_variance="delta")
    V = r.by_group.vcov_matrix()
    np.testing.assert_allclose(np.sqrt(np.diag(V)), r.by_group.se, rtol=1e-10)
    lin = hi.compute_index(city, NEF, by="commune")
    np.testing.assert_allclose(r.by_group.se, lin.by_group.se, rtol=0.05)


def test_replicate_with_undefined_commune_replicates():
    # in commune C01 only village 0 has anyone satisfied with the environment: the JKn
    # replicate deleting village 0 makes C01's ENV share 0 (index undefined); that replicate
    # is dropped for C01 only, never for the city
    df = _r_check_data()
    c01 = (df["commune"] == "C01") & (df["village"] != 0)
    for it in ["env_nature", "env_security", "env_services"]:
        df.loc[c01, it] = 1
    base = hi.SurveyDesign(df, weights="weight", strata="commune", psu="village")
    jk = base.to_replicates("jkn")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = hi.compute_index(df, NEF, design=jk, by="commune")
        r0 = hi.compute_index(df, NEF, design=jk)
    assert r.overall.se == pytest.approx(r0.overall.se, rel=1e-12)
    assert math.isfinite(r.by_group["C01"].se)
    lin = hi.compute_index(df, NEF, by="commune")
    assert r.overall.se == pytest.approx(lin.overall.se, rel=0.02)


# ---------------------------------------------------------------------------
# an item nobody answered in a domain (breakit #2) and messages without numpy reprs (#29)
# ---------------------------------------------------------------------------


def _refused_in_first_commune(city, item="ls_income"):
    c0 = sorted(city["commune"].unique())[0]
    s = city.copy()
    s.loc[s["commune"] == c0, item] = 9  # 9 = refused (a missing code): nobody answered in c0
    return s, c0


@pytest.mark.parametrize("kind", ["taylor", "rerun", "delta"])
def test_item_unanswered_in_a_domain_spoils_only_its_component(city, kind):
    s, c0 = _refused_in_first_commune(city)
    kw = {}
    if kind != "taylor":
        kw = {
            "design": hi.SurveyDesign(s, weights="weight", strata="commune", psu="village").to_replicates("jkn"),
            "replicate_variance": kind,
        }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = hi.compute_index(s, NEF, by="commune", **kw)
    f = r.by_group.to_frame().set_index("commune")
    row = f.loc[c0]
    # LE and ENV do not use ls_income: available-case per item, identical to the clean data
    sub = city[(city["commune"] == c0) & ~city["le_rating"].isin([8, 9])]  # answered le_rating
    w = sub["weight"].to_numpy()
    le = 100 * np.sum(w * (sub["le_rating"] >= 4)) / w.sum()  # le_rating: satisfied = 4 or 5
    assert row["component_le"] == pytest.approx(le, rel=1e-12)
    assert math.isfinite(row["component_env"])
    assert math.isnan(row["component_ls"])
    # the undefined index has an undefined SE, never 0
    assert math.isnan(row["estimate"]) and math.isnan(row["se"])
    assert not row["publishable"]
    assert "['ls']" in row["reason"] and "'ls_income'" in row["reason"]
    assert "'le'" not in row["reason"] and "'env'" not in row["reason"]
    # the other communes keep finite indices and SEs
    others = f.drop(index=c0)
    assert np.isfinite(others["estimate"]).all() and (others["se"] > 0).all()
    assert math.isfinite(r.overall.se) and r.overall.se > 0


def test_item_unanswered_in_the_city_names_only_its_component(city):
    s = city.copy()
    s["le_rating"] = 9
    with pytest.raises(hi.EstimationError) as ei:
        hi.compute_index(s, NEF)
    msg = str(ei.value)
    assert "component(s) ['le'] undefined" in msg and "'le_rating'" in msg
    assert "np.float64" not in msg and "np." not in msg
    assert "le = undefined (NaN)" in msg
    ls = re.search(r"ls = ([0-9.]+)", msg)
    assert ls is not None and math.isfinite(float(ls.group(1)))


def test_messages_have_no_numpy_reprs():
    with pytest.raises(hi.SpecError) as ei:
        hi.af_gnh_index(np.float64(1.5), 0.2)
    assert "np.float64" not in str(ei.value) and "1.5" in str(ei.value)
    with pytest.raises(hi.SpecError) as ei:
        hi.nef_sensitivity(40.0, 40.0, np.float64(-1.0))
    assert "np.float64" not in str(ei.value) and "-1.0" in str(ei.value)


# ---------------------------------------------------------------------------
# codes outside the spec (breakit #4)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("bad, shown", [(7, "7"), (4.5, "4.5"), (-3, "-3"), ("abc", "'abc'")])
def test_values_outside_the_codes_are_refused(city, bad, shown):
    s = city.copy()
    s["ls_income"] = s["ls_income"].astype(object)
    s.loc[[3, 10], "ls_income"] = bad
    before = s.copy()
    with pytest.raises(hi.SchemaError) as ei:
        hi.compute_index(s, NEF)
    msg = str(ei.value)
    assert "'ls_income'" in msg and "row(s) 3, 10" in msg and f"value(s) {shown} " in msg
    assert "in range 1..5" in msg and "missing codes {8, 9}" in msg
    pd.testing.assert_frame_equal(s, before)  # input untouched


def test_missing_codes_are_missing_not_refused(city):
    # 8/9 are missing codes: mapped to missing (available-case), never an error; the
    # result equals the one where they are blank
    s = city.copy()
    s.loc[[3, 10], "ls_income"] = 9
    blank = s.copy()
    blank["ls_income"] = blank["ls_income"].astype(float)
    blank.loc[[3, 10], "ls_income"] = np.nan
    r1 = hi.compute_index(s, NEF, diagnostics=False)
    r2 = hi.compute_index(blank, NEF, diagnostics=False)
    assert r1.overall.estimate == pytest.approx(r2.overall.estimate, rel=1e-14)
    assert r1.overall.se == pytest.approx(r2.overall.se, rel=1e-12)


# ---------------------------------------------------------------------------
# a design built on other data of the same length (breakit #5)
# ---------------------------------------------------------------------------


def _nef_design(df):
    return hi.SurveyDesign(df, weights="weight", strata="commune", psu="village", nest=True)


def test_design_on_other_rows_of_the_same_length_is_refused(city):
    rev = city.iloc[::-1].reset_index(drop=True)
    with pytest.raises(hi.DesignError, match="other data: column 'ls_income' differs"):
        hi.compute_index(city, NEF, design=_nef_design(rev))
    shuffled_w = city.copy()
    shuffled_w["weight"] = shuffled_w["weight"].to_numpy()[::-1]
    with pytest.raises(hi.DesignError, match="column 'weight' differs"):
        hi.compute_index(city, NEF, design=_nef_design(shuffled_w))
    other_index = city.set_index(city.index + 1)
    with pytest.raises(hi.DesignError, match="row index differs"):
        hi.compute_index(city, NEF, design=_nef_design(other_index))


def test_design_on_an_equal_copy_is_accepted(city):
    d = _nef_design(city)
    r_same = hi.compute_index(city, NEF, design=d, diagnostics=False)
    r_copy = hi.compute_index(city.copy(), NEF, design=d, diagnostics=False)
    assert r_copy.overall.estimate == r_same.overall.estimate
    assert r_copy.overall.se == r_same.overall.se


def test_band_is_the_documented_name_of_level(city_result):
    """IndexResult.level is the happiness band (contract); .band is the same object (new-user #9)."""
    r = city_result
    assert r.band is r.level and r.band.lower <= r.overall.estimate < r.band.upper
    assert r.overall.level == 0.95  # the confidence level lives on the estimate
    assert hi.DomainIndexTable is type(r.by_group)
    assert "happiness band" in hi.IndexResult.band.__doc__
    assert f"happiness band: {r.band.labels.en}" in str(r)
    assert "happiness band" in hi.IndexResult.__doc__ and "Not a confidence level" in hi.IndexResult.__doc__


def test_publication_rule_df_and_ci_halfwidth(city, city_result):
    """Five villages per commune: df 4 < min_df 5, so no commune of the demo is publishable, and
    communes with an interval wider than +/-10 points say so (new-user #11)."""
    bg = city_result.by_group
    assert bg.publication_rule == {"min_n": 30, "max_cv": 0.3, "max_ci_halfwidth": 10.0, "min_df": 5}
    assert not bg.publishable.any()
    f = bg.to_frame()
    for e, en, vi, both in zip(bg.estimates, f["reason_en"], f["reason_vi"], f["reason"]):
        assert e.df == 4
        assert "only 4 design degrees of freedom (< 5)" in en and "chỉ có 4 bậc tự do" in vi
        hw = max(e.estimate - e.ci_low, e.ci_high - e.estimate)
        assert (f"CI half-width {hw:.2f} > 10 points" in en) == (hw > 10)
        assert (f"nửa độ rộng KTC {hw:.2f} > 10 điểm".replace(".", ",") in vi) == (hw > 10)  # decimal comma
        assert "/" in both and both.startswith(en.split(";")[0])
    assert any("CI half-width" in x for x in f["reason_en"])


def test_publication_rule_thresholds_from_the_spec(city):
    d = NEF.to_dict()
    d["publication"] = {"min_n": 30, "max_cv": 0.3, "max_ci_halfwidth": float("inf"), "min_df": 0}
    off = hi.IndexSpec.from_dict(d)
    assert off.publication.effective() == {"min_n": 30, "max_cv": 0.3, "max_ci_halfwidth": None, "min_df": None}
    r = hi.compute_index(city, off, by="commune")
    assert r.by_group.publishable.all()  # only n >= 30 and CV <= 30% checked: all pass
    d["publication"] = {"min_n": 30}
    dflt = hi.IndexSpec.from_dict(d).publication.effective()
    assert dflt["max_ci_halfwidth"] == 10.0 and dflt["min_df"] == 5  # documented defaults
    d["scale"] = "proportion"
    assert hi.IndexSpec.from_dict(d).publication.effective("proportion")["max_ci_halfwidth"] == pytest.approx(0.1)
    for bad, key in (
        ({"max_ci_halfwidth": 0}, "max_ci_halfwidth"),
        ({"min_df": -1}, "min_df"),
        ({"min_df": 2.5}, "min_df"),
    ):
        d["publication"] = bad
        with pytest.raises(hi.SpecError, match=key):
            hi.IndexSpec.from_dict(d)


def test_reliability_refuses_text_items():
    """Text answers in an item column are named, never coerced to a silent NaN alpha."""
    items = pd.DataFrame({"q1": [1, 2, 3, 4], "q2": ["2", "Rất hài lòng", "3", None]}, index=[10, 11, 12, 13])
    with pytest.raises(
        hi.EstimationError,
        match=r"item column 'q2' holds values that are not numbers "
        r"\('Rất hài lòng'\) in 1 row\(s\), first at row label 11",
    ):
        hi.cronbach_alpha(items)
    with pytest.raises(hi.EstimationError, match="'q2'"):
        hi.item_analysis(items)
    # numbers stored as text and missing values are fine: complete cases 10 and 12
    ok = items.assign(q2=["2", None, "3", None])
    # rows 10 (1, 2) and 12 (3, 3): item variances 1 and 1/4, scale variance 9/4 -> 2 (1 - 1.25/2.25) = 8/9
    assert hi.cronbach_alpha(ok) == pytest.approx(8 / 9)


def test_diagnostics_of_categorical_items_match_the_indicator_frame():
    # compute_index drops the float indicator frame after planning and reads non-response and
    # the 0/1 reliability scores of unordered items from the plan: the same numbers as the frame
    codes = ["yes", "somewhat", "no"]
    spec = hi.IndexSpec.from_dict(
        {
            "name": "t",
            "preset": "mean_of_shares",
            "scale": "percent",
            "items": [
                {"name": f"c{j}", "type": "categorical", "codes": codes, "satisfied": ["yes", "somewhat"]}
                for j in (1, 2, 3)
            ],
            "components": [{"name": "a", "items": ["c1", "c2", "c3"]}],
        }
    )
    rng = np.random.default_rng(7)
    n = 60
    data = pd.DataFrame({f"c{j}": rng.choice(codes, n).astype(object) for j in (1, 2, 3)})
    data.loc[[3, 17, 40], "c1"] = None
    data.loc[[5, 17], "c3"] = None
    data["w"] = rng.uniform(1, 3, n)
    r = hi.compute_index(data, spec, design=hi.SurveyDesign(data, weights="w"))
    ind = spec.satisfied_indicators(data)
    nr = r.diagnostics["item_nonresponse"].set_index("item")
    assert nr["n_missing"].to_dict() == {"c1": 3, "c2": 0, "c3": 2}
    w = data["w"].to_numpy()
    assert nr.loc["c1", "weighted_rate"] == pytest.approx(w[[3, 17, 40]].sum() / w.sum(), rel=1e-12)
    from happiness_index.index.reliability import scale_reliability

    alpha, ia = scale_reliability(ind.to_numpy(), w)
    # the same scores; the blocked moments may sum in another memory order (last-bit differences)
    assert r.diagnostics["cronbach_alpha"]["a"] == pytest.approx(alpha, rel=1e-12)
    got = r.diagnostics["item_analysis"].drop(columns="component")
    assert got["item"].tolist() == ["c1", "c2", "c3"]  # the spec's item names, not item1..item3
    np.testing.assert_allclose(got[["n", "mean", "sd"]].to_numpy(), ia[["n", "mean", "sd"]].to_numpy(), rtol=1e-12)

"""The variance engine's public interface (happiness_index.survey.variance).

Statistics as functions of weighted totals -> estimates, variances, covariances, by
Taylor linearization or replicates, in domains; checked against the designs' own
estimators (which the R reference tests pin) and against hand formulas.
"""

import ast
from pathlib import Path

import numpy as np
import pytest

import happiness_index as hi
from happiness_index.survey import variance as v


@pytest.fixture(scope="module")
def apistrat():
    return hi.load_api("apistrat")


def _mean_stat(Y, names):
    k = Y.shape[1]
    return v.Statistic(names, np.column_stack([Y, np.ones(len(Y))]), np.arange(k), np.full(k, k), "mean", names)


def test_statistic_evaluate_ratio_and_total():
    stat = v.Statistic(["a/b", "a"], np.zeros((1, 2)), np.array([0, 0]), np.array([1, -1]), "ratio", ["a", "b"])
    t = np.array([[6.0, 3.0], [1.0, 4.0]])
    np.testing.assert_allclose(stat.evaluate(t), [[2.0, 6.0], [0.25, 1.0]])
    assert stat.p == 2


def test_estimate_statistic_matches_mean_in_domains(apistrat):
    des = hi.SurveyDesign(apistrat, weights="pw", strata="stype", fpc="fpc")
    by = des.by("awards").mean(["api00", "api99"])
    dom, keys, D = des.by("awards").domain_codes(np.ones(len(apistrat), dtype=bool))
    res = des.estimate_statistic(_mean_stat(apistrat[["api00", "api99"]].to_numpy(float), ["api00", "api99"]), dom, D)
    assert isinstance(res, v.StatisticEstimate)
    assert list(keys["awards"]) == sorted(apistrat["awards"].unique())
    frame = by.to_frame()
    np.testing.assert_allclose(res.theta.reshape(-1), frame["estimate"].to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(np.sqrt(res.var.reshape(-1)), frame["se"].to_numpy(), rtol=1e-12)
    V = res.vcov()
    np.testing.assert_allclose(np.sqrt(np.diag(V)), frame["se"].to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(V, by.vcov.to_numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.repeat(res.df, 2), frame["df"].to_numpy())


def test_taylor_scheme_srs_hand_formula():
    # SRS without replacement: V(mean) = (1 - n/N) s^2 / n
    rng = np.random.default_rng(3)
    n, N = 40, 400
    y = rng.normal(size=n)
    st = v.Stage(
        stratum=np.zeros(n, dtype=np.int64),
        cluster=np.arange(n),
        n_strata=1,
        n_clusters=n,
        cluster_stratum=np.zeros(n, dtype=np.int64),
        npsu=np.array([float(n)]),
        f=np.array([1 - n / N]),
        mult=np.ones(1),
        frac=np.array([n / N]),
        stratum_labels=np.array(["all"], dtype=object),
        cluster_labels=np.arange(n),
    )
    scheme = v.TaylorScheme(stages=(st,), fine=np.arange(n), n_fine=n)
    res = scheme.estimate(_mean_stat(y[:, None], ["y"]), np.full(n, N / n), np.zeros(n, dtype=np.int64), 1)
    assert res.theta[0, 0] == pytest.approx(y.mean())
    assert res.var[0, 0] == pytest.approx((1 - n / N) * y.var(ddof=1) / n, rel=1e-12)
    assert res.df[0] == n - 1
    # the covariance of the influence values gives the same variance
    Z = (N / n) * (y - y.mean()) / N
    assert scheme.covariance(Z[:, None], np.zeros(n, dtype=np.int64))[0, 0] == pytest.approx(res.var[0, 0])


def test_lonely_psu_rule_fails_through_the_engine(apistrat):
    d = apistrat.iloc[:3].copy()
    d["s"] = ["a", "a", "b"]
    des = hi.SurveyDesign(d, weights="pw", strata="s")
    with pytest.raises(hi.LonelyPSUError, match="lonely PSU"):
        des.mean("api00")


def test_replicate_scheme_matches_replicate_design():
    d = hi.load_api("apiclus1")
    rep = hi.SurveyDesign(d, weights="pw", psu="dnum").to_replicates("jk1")
    y = d["api00"].to_numpy(float)
    scheme = v.ReplicateScheme(rep.scale, rep.rscales, rep.mse, W=rep.replicate_weights())
    res = scheme.estimate(
        _mean_stat(y[:, None], ["api00"]), rep.weights.to_numpy(), np.zeros(len(d), dtype=np.int64), 1, rep.df
    )
    est = rep.mean("api00")
    assert res.theta[0, 0] == pytest.approx(est.estimate, rel=1e-12)
    assert np.sqrt(res.var[0, 0]) == pytest.approx(est.se, rel=1e-12)
    assert res.replicates.shape == (rep.n_replicates, 1)
    np.testing.assert_allclose(res.replicate_variance(res.replicates, res.theta.reshape(-1)), res.vcov())


def test_replicate_vcov_discards_undefined_replicates_with_warning():
    scheme = v.ReplicateScheme(1.0, np.ones(4), False)
    reps = np.array([[1.0], [2.0], [np.nan], [3.0]])
    with pytest.warns(hi.HappinessIndexWarning, match="discarded"):
        V = scheme.vcov(reps, np.array([2.0]))
    assert V[0, 0] == pytest.approx(2.0)


def test_group_sum_and_unique_codes():
    codes = np.array([2, 0, 2, 1])
    X = np.arange(8.0).reshape(4, 2)
    np.testing.assert_allclose(v.group_sum(codes, 3, X), [[2, 3], [6, 7], [4, 6]])
    np.testing.assert_allclose(v.group_sum(codes, 3, X, np.array([1.0, 2, 3, 4])), [[4, 6], [24, 28], [12, 16]])
    u, inv = v.unique_codes(np.array([5, 1, 5]), 10, return_inverse=True)
    assert u.tolist() == [1, 5] and inv.tolist() == [1, 0, 1]


def test_no_private_imports_and_no_cycles_in_the_survey_layer():
    root = Path(hi.__file__).parent / "survey"
    edges = {}
    for p in root.glob("*.py"):
        tree = ast.parse(p.read_text(encoding="utf-8"))
        deps = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
                deps.add(node.module)
                assert not any(a.name.startswith("_") for a in node.names), f"{p.name} imports a private name"
        edges[p.stem] = deps

    def reach(a, seen):
        for b in edges.get(a, ()):
            if b not in seen:
                seen.add(b)
                reach(b, seen)
        return seen

    for m in edges:
        assert m not in reach(m, set()), f"import cycle through survey.{m}"
    assert "variance" in edges and not (edges["variance"] & {"design", "replicates", "analysis", "quantiles"})

"""The engine's public hooks reproduce the design's own estimators."""

import numpy as np

import happiness_index as hi


def test_influence_vcov_reproduces_mean_variance():
    d = hi.load_api("apistrat")
    des = hi.SurveyDesign(d, weights="pw", strata="stype", fpc="fpc")
    est = des.mean(["api00", "api99"])
    w = d["pw"].to_numpy()
    Y = d[["api00", "api99"]].to_numpy(float)
    mu = (w[:, None] * Y).sum(0) / w.sum()
    Z = w[:, None] * (Y - mu) / w.sum()
    V = des.influence_vcov(Z)
    np.testing.assert_allclose(V, est.vcov.to_numpy(), rtol=1e-10)


def test_replicate_vcov_reproduces_replicate_mean_variance():
    d = hi.load_api("apiclus1")
    rep = hi.SurveyDesign(d, weights="pw", psu="dnum").to_replicates("jk1")
    W = rep.replicate_weights()
    y = d["api00"].to_numpy(float)
    reps = (W * y[:, None]).sum(0) / W.sum(0)
    full = np.average(y, weights=d["pw"])
    V = rep.replicate_vcov(reps, full)
    np.testing.assert_allclose(np.sqrt(V[0, 0]), rep.mean("api00").se, rtol=1e-10)

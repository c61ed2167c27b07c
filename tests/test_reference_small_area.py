"""Fay–Herriot against the R ``sae`` reference cases (tests/reference/small_area.json, a
byte-for-byte copy of shared/reference/small_area.json)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import happiness_index as hi

CASES = json.loads((Path(__file__).parent / "reference" / "small_area.json").read_text(encoding="utf-8"))["cases"]


def case_frame(case) -> pd.DataFrame:
    df = pd.DataFrame({k: [np.nan if v is None else v for v in vals] for k, vals in case["data"].items()})
    for prep in case.get("prepare", []):
        src = df[prep["dummies_of"]]
        for lev, col in zip(prep["levels"], prep["columns"]):
            df[col] = (src == lev).astype(float)
    return df


def assert_close(py, r, tol, zero_abs, what):
    py = np.asarray(py, dtype=float)
    r = np.asarray([np.nan if v is None else v for v in np.atleast_1d(r)], dtype=float)
    both_nan = np.isnan(py) & np.isnan(r)
    lim = np.where(r == 0, zero_abs, tol * np.abs(r))
    ok = both_nan | (np.abs(py - r) <= lim)
    assert ok.all(), f"{what}: python {py[~ok]} vs R {r[~ok]}"


def fit_case(case):
    c = case["call"]
    return hi.fay_herriot(
        case_frame(case),
        estimate=c["estimate"],
        variance=c["variance"],
        covariates=c["covariates"],
        area=c["area"],
        method=c["method"],
    )


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_reference_case(case):
    fit = fit_case(case)
    e, tol = case["expected"], case["tolerance"]
    za = tol.get("zero_abs", 1e-12)
    assert list(fit.beta.index[1:]) == e["beta"]["names"][1:]
    assert fit.beta.index[0] == "Intercept"
    assert_close(fit.beta.to_numpy(), e["beta"]["values"], tol["beta"], za, "beta")
    assert_close(fit.sigma2_u, e["sigma2_u"], tol["sigma2_u"], za, "sigma2_u")
    if e.get("loglik") is not None:
        assert_close(fit.loglik, e["loglik"], tol["loglik"], za, "loglik")
    f = fit.to_frame()
    a = e["areas"]
    assert list(f.index) == a["area"]
    assert f["in_sample"].tolist() == a["in_sample"]
    for col in ("direct", "direct_se", "estimate", "mse", "gamma"):
        assert_close(f[col].to_numpy(), a[col], tol[col], za, col)
    if "benchmark" in e:
        b = e["benchmark"]
        for method in ("ratio", "difference"):
            bf = fit.benchmark(total=b["total"], weights=b["weights"], method=method)
            assert_close(bf["estimate"].to_numpy(), b[method]["estimate"], tol["benchmark"], za, method)
            w = case_frame(case)[b["weights"]].to_numpy()
            assert math.isclose(
                w @ bf["estimate"].to_numpy(), b["total"] * (1 if method == "ratio" else w.sum()), rel_tol=1e-9
            )
            assert (bf["mse"] >= bf["mse_unbenchmarked"]).all()

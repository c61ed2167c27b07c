"""Loader of the R ``survey`` regression reference cases (``tests/reference/regression.json``).

The JSON is a byte-for-byte copy of ``shared/reference/regression.json`` (R 4.2.2, survey
4.1.1); ``tests/data/r_extra_regression.json`` holds more cases of the same layout made by
``tests/data/r_extra_regression.R``. Data come from the bundled copies of the api data
(``hi.load_api``) with R's dots written as underscores (``avg.ed`` -> ``avg_ed``); replicate
weights from ``tests/data/<file>.csv`` (copies of ``shared/data/repweights``). Derived
variables are an explicit table (:data:`DERIVED`): an unknown one fails loudly.
"""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

import happiness_index as hi

HERE = Path(__file__).resolve().parent
REFERENCE = HERE / "reference" / "regression.json"
EXTRA = HERE / "data" / "r_extra_regression.json"

DERIVED = {
    "schwide_yes": lambda d: (d["sch_wide"] == "Yes").astype(int),
    "compimp_yes": lambda d: (d["comp_imp"] == "Yes").astype(int),
    "mealcat": lambda d: pd.cut(d["meals"], [0, 25, 50, 75, 100]),
    "bothyes": lambda d: (d["both"] == "Yes").astype(int),
    "api_hi": lambda d: (d["api00"] > 700).astype(int),
}


def load_cases(path: Path = REFERENCE) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)["cases"]


def rnum(v) -> float:
    while isinstance(v, list) and len(v) == 1:  # R 1x1 matrices come out as [[x]]
        v = v[0]
    if v is None:
        return math.nan
    if isinstance(v, str):
        return {"Inf": math.inf, "-Inf": -math.inf}.get(v, math.nan)
    return float(v)


def close(py, r, tol: float) -> bool:
    r = rnum(r)
    py = float(py)
    if math.isnan(r):
        return math.isnan(py)
    if math.isinf(r):
        return py == r
    if r == 0:
        return abs(py) <= 1e-12
    return abs(py - r) <= tol * abs(r)


@cache
def _api(name: str) -> pd.DataFrame:
    if name == "nhanes":  # not bundled with the package: a copy of shared/data/nhanes.csv
        return pd.read_csv(HERE / "data" / "nhanes.csv.gz")
    d = hi.load_api(name)
    d.columns = [c.replace(".", "_") for c in d.columns]
    return d


def case_data(case: dict) -> pd.DataFrame:
    data = _api(case["dataset"]).copy()
    for dv in (case.get("variables") or {}).get("derived") or []:
        fn = DERIVED.get(dv["name"])
        if fn is None:
            raise KeyError(f"no mapping for derived variable {dv['name']!r} ({dv.get('r')}); add it to DERIVED")
        data[dv["name"]] = fn(data)
    return data


@cache
def repweights(fname: str) -> np.ndarray:
    rw = pd.read_csv(HERE / "data" / fname)
    cols = [c for c in rw.columns if c.startswith("rep_")]
    return rw[cols].to_numpy(dtype=float)[np.argsort(rw["row"].to_numpy())]


def case_design(case: dict, data: pd.DataFrame):
    d = case["design"]
    if d["kind"] == "taylor_linearization":
        ids = d.get("ids") or ["1"]
        psu = None if ids == ["1"] else (ids[0] if len(ids) == 1 else list(ids))
        fpc = d.get("fpc")
        if isinstance(fpc, list):
            fpc = fpc[0] if len(fpc) == 1 else fpc
        lonely = (d.get("lonely_psu") or "fail").split()[0]
        des = hi.SurveyDesign(
            data,
            weights=d.get("weights"),
            strata=d.get("strata"),
            psu=psu,
            fpc=fpc,
            nest=bool(d.get("nest", False)),
            lonely_psu=lonely,
        )
        if d.get("post_stratify"):
            des = hi.post_stratify(des, d["post_stratify"])
        return des
    W = repweights(Path(d["repweights_file"]).name)
    rscales = d.get("rscales")
    if rscales is not None and not isinstance(rscales, list):
        rscales = [float(rscales)] * W.shape[1]
    return hi.ReplicateDesign(
        data,
        weights=d["full_sample_weights"],
        replicate_weights=W,
        method=d["replicate_type"].lower(),
        scale=float(d["scale"]),
        rscales=rscales,
        mse=bool(d.get("mse", False)),
    )


def case_family(case: dict) -> str:
    return case["options"].get("glm_family", "gaussian")


def epsilon_of(case: dict) -> float:
    return 1e-14 if "epsilon=1e-14" in case["r_call"] else 1e-8

"""Generate the bundled SYNTHETIC commune covariates and the ILLUSTRATIVE crosswalk (seeded).

    python scripts/make_commune_covariates.py            # rewrites the two files below
    python scripts/make_commune_covariates.py --check    # regenerates in memory and compares

EVERYTHING WRITTEN HERE IS SYNTHETIC OR ILLUSTRATIVE. Do not quote any of it as a fact about
Yên Bái, and never present the crosswalk as the official mapping of the 2025 reform.

``happiness_index/data/yen_bai_city_commune_covariates.csv``
    One row per commune/ward of the synthetic city of ``scripts/make_city_data.py``:
    ``commune``, ``commune_type``, ``ward`` (1 = phường; the type is real, everything else
    invented), ``households`` (the synthetic frame's listing), ``pop_share`` (households /
    city total) and ``poverty_rate_pct``, an invented "register" covariate built from the
    synthetic population's true commune effect ``c`` (make_city_data's COMMUNE term):
    ``poverty_rate_pct = 9 - 14 (c - mean c) + N(0, 1.5^2)``, clipped to [1, 40]. It is a
    strong but imperfect predictor by construction; real covariates (census poverty rates,
    share of households with a member in paid work, distance to services) must be checked
    for predictive power before the model is trusted.

``happiness_index/data/yen_bai_city_crosswalk_illustrative.csv``
    An ILLUSTRATIVE old → new unit table in the shape of a merger reform (four new units
    ``N1``–``N4``, invented names "Đơn vị mới 1 (minh hoạ)" ...): merges many-to-one, and
    one split (Tuy Lộc) mapped village by village, with the population share of each part.
    Columns: ``old_unit``, ``village`` (empty = the whole old unit), ``new_unit``,
    ``new_name``, ``share`` (share of the old unit's households going to the new unit),
    ``note``.

Functions :func:`population_truth` and :func:`draw_survey` recreate the synthetic
population (a fixed effect for every village of the frame) and draw the bundled design
(5 villages per commune by systematic PPS, 40 households each) for the seeded simulations
in ``tests/test_small_area_simulation.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import make_city_data as mcd  # noqa: E402 (a sibling script, found through sys.path)

DATA = ROOT / "happiness_index" / "data"
SEED = 20240612
COVARIATES = "yen_bai_city_commune_covariates.csv"
CROSSWALK = "yen_bai_city_crosswalk_illustrative.csv"
SPLIT = "Tuy Lộc"
NEW_UNITS = {  # new unit -> old units merged into it (ILLUSTRATIVE)
    "N1": ["Đồng Tâm", "Yên Ninh", "Minh Tân", "Nguyễn Phúc", "Nguyễn Thái Học"],
    "N2": ["Hồng Hà", "Yên Thịnh", "Nam Cường", "Minh Bảo", "Tân Thịnh"],
    "N3": ["Hợp Minh", "Âu Lâu", "Giới Phiên", "Văn Tiến"],
    "N4": ["Văn Phú", "Phúc Lộc"],
}
SPLIT_TO = ("N3", "N4")  # first half of Tuy Lộc's villages -> N3, the rest -> N4


def synthetic_city():
    """The synthetic frame and the true commune effects of make_city_data (same seed)."""
    rng = np.random.default_rng(mcd.SEED)
    frame = mcd.make_frame(rng)
    ceff = mcd.commune_effects(rng)
    return frame, ceff


def make_covariates(frame: pd.DataFrame, ceff: dict) -> pd.DataFrame:
    rng = np.random.default_rng(SEED)
    hh = frame.groupby("commune", sort=False)["households"].sum()
    kinds = dict(zip(frame["commune"], frame["commune_type"]))
    c = np.array([ceff[k] for k in hh.index])
    pov = np.clip(9 - 14 * (c - c.mean()) + rng.normal(0, 1.5, len(c)), 1, 40)
    return pd.DataFrame(
        {
            "commune": hh.index,
            "commune_type": [kinds[k] for k in hh.index],
            "ward": [int(kinds[k] == "phường") for k in hh.index],
            "households": hh.to_numpy(),
            "pop_share": np.round(hh.to_numpy() / hh.sum(), 6),
            "poverty_rate_pct": np.round(pov, 1),
            "note": "SYNTHETIC: invented for the demo; describes nobody",
        }
    )


def make_crosswalk(frame: pd.DataFrame) -> pd.DataFrame:
    rows = []
    names = {k: f"Đơn vị mới {k[1:]} (minh hoạ)" for k in NEW_UNITS}
    note = "ILLUSTRATIVE mapping for the synthetic demo; not the official 2025 reform"
    for new, olds in NEW_UNITS.items():
        for old in olds:
            rows.append((old, "", new, names[new], 1.0, note))
    v = frame[frame["commune"] == SPLIT]
    half = len(v) // 2
    tot = v["households"].sum()
    for i, (vil, h) in enumerate(zip(v["village"], v["households"])):
        new = SPLIT_TO[0] if i < half else SPLIT_TO[1]
        rows.append((SPLIT, vil, new, names[new], round(h / tot, 6), note))
    return pd.DataFrame(rows, columns=["old_unit", "village", "new_unit", "new_name", "share", "note"])


def population_truth(frame: pd.DataFrame, ceff: dict, year: int, seed: int = 7):
    """Village effects for every village of the frame and the true commune index (LS x LE / ENV).

    The truth is the household-weighted expected share satisfied per item given the village
    effects (make_city_data's answer model, in closed form), combined as the spec does.
    """
    rng = np.random.default_rng(seed)
    area = pd.Series(rng.normal(0, 0.35, len(frame)), index=frame["village"].to_numpy())
    base = mcd.YEAR_EFFECT[year] + frame["commune"].map(ceff).to_numpy() + area.to_numpy()
    shares = {}
    for item, mu in mcd.ITEMS.items():
        p = stats.norm.cdf((base + mu + 0.2) / np.sqrt(1 + 0.81))
        shares[item] = (
            pd.Series(p * frame["households"].to_numpy()).groupby(frame["commune"].to_numpy()).sum()
            / frame.groupby("commune")["households"].sum()
        )
    s = pd.DataFrame(shares)
    ls = s[["ls_income", "ls_health", "ls_family", "ls_social"]].mean(axis=1) * 100
    le = s["le_rating"] * 100
    env = s[["env_nature", "env_security", "env_services"]].mean(axis=1) * 100
    return area, ls * le / env


def _pps_systematic(sizes: np.ndarray, n: int, rng) -> np.ndarray:
    cum = np.cumsum(sizes)
    step = cum[-1] / n
    points = rng.uniform(0, step) + step * np.arange(n)
    return np.searchsorted(cum, points, side="right")


def draw_survey(frame: pd.DataFrame, ceff: dict, area: pd.Series, year: int, rng) -> pd.DataFrame:
    """One sample at the bundled design (5 villages per commune by systematic PPS on households,
    40 households by SRS in each, one adult each), answers from make_city_data's model with the
    population's fixed village effects. Self-weighting within a commune: weight = households / 200."""
    parts = []
    for commune, g in frame.groupby("commune", sort=False):
        idx = _pps_systematic(g["households"].to_numpy(), mcd.AREAS_PER_COMMUNE, rng)
        vil = g["village"].to_numpy()[idx]
        parts.append(
            pd.DataFrame(
                {
                    "commune": commune,
                    "village": np.repeat(vil, mcd.HH_PER_AREA),
                    "weight": g["households"].sum() / (mcd.AREAS_PER_COMMUNE * mcd.HH_PER_AREA),
                }
            )
        )
    s = pd.concat(parts, ignore_index=True)
    n = len(s)
    u = (
        mcd.YEAR_EFFECT[year]
        + s["commune"].map(ceff).to_numpy()
        + s["village"].map(area).to_numpy()
        + rng.normal(0, 1, n)
    )
    s.insert(0, "respondent_id", [f"{year}-{i + 1:05d}" for i in range(n)])
    for item, mu in mcd.ITEMS.items():
        z = u + mu + rng.normal(0, 0.9, n)
        code = 1 + (z[:, None] > mcd.CUTS[None, :]).sum(axis=1)
        r = rng.random(n)
        s[item] = np.where(r < 0.015, 8, np.where(r < 0.020, 9, code))
    return s


def generate() -> dict[str, str]:
    frame, ceff = synthetic_city()
    return {
        COVARIATES: make_covariates(frame, ceff).to_csv(index=False, lineterminator="\n"),
        CROSSWALK: make_crosswalk(frame).to_csv(index=False, lineterminator="\n"),
    }


def main(argv=None) -> int:
    return mcd.write_or_check(generate, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    raise SystemExit(main())

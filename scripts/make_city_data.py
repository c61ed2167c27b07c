"""Generate the bundled SYNTHETIC two-year survey of Yên Bái city (seeded, reproducible).

    python scripts/make_city_data.py            # rewrites happiness_index/data/yen_bai_city_*
    python scripts/make_city_data.py --check    # regenerates in memory, compares with the files

EVERYTHING WRITTEN HERE IS SYNTHETIC. The names of the 17 communes and wards are real; the
household counts, villages, respondents and answers are invented. Do not quote any number
computed from these files as a fact about Yên Bái.

The frame (``yen_bai_city_frame.csv``)
--------------------------------------
One row per village (thôn, in the 8 communes) or residential group (tổ dân phố, in the 9
wards): ``commune``, ``commune_type`` (``phường`` ward / ``xã`` commune), ``village`` (a
code unique in the city), ``village_name`` and ``households`` (listed households). Commune
household totals are the illustrative round numbers of ``examples/design_city_sample.py``;
each commune is split into areas of about 80 households (at least 4 areas, at least 45
households each) by a seeded multinomial draw.

The samples (``yen_bai_city_survey_2023.csv``, ``..._2024.csv``)
----------------------------------------------------------------
Each year is an independent two-stage sample drawn with the library's own
:func:`happiness_index.select`: in every commune 5 areas by systematic PPS on households,
then 40 households by SRS in each selected area (``households_per_psu=40``, the province's
rule); one adult answers per household. ``weight`` is the design weight 1/(pi1 pi2), so the
weights of a commune add up to its listed households. 17 x 5 x 40 = 3,400 interviews a year.

The answer model (documented so that the "true" values are known)
------------------------------------------------------------------
For respondent i in area v of commune c in year t, a latent well-being

    u_i = YEAR[t] + COMMUNE[c] + AREA[v] + e_i,   AREA ~ N(0, 0.35^2),  e_i ~ N(0, 1)

(COMMUNE: wards +0.15, communes -0.10, plus a seeded N(0, 0.2^2) deviation). Each item k
is answered on the 1-5 Likert scale as ``1 + #{z_ik > cut}`` with
``z_ik = u_i + MU[k] + N(0, 0.9^2)`` and cuts (-2.2, -1.2, -0.2, 0.55): a respondent is
"satisfied" (codes 4-5) when ``z_ik > -0.2``. MU is set so that life satisfaction items
are satisfied by about 70 %, the life-expectancy rating by about 85 % and the living
environment items by about 80 %: the index LS x LE / ENV is then about 74-75 in 2023.
YEAR[2024] - YEAR[2023] = 0.15 raises the shares by about 3 points. Each item is
"don't know" (code 8) with probability 1.5 % and "refused" (code 9) with 0.5 %.
``sex`` (Nam/Nữ) and ``age_group`` are drawn independently of the answers.
"""

from __future__ import annotations

import argparse
import json
import sys
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import happiness_index as hi  # noqa: E402

DATA = ROOT / "happiness_index" / "data"
SEED = 20240601
YEARS = (2023, 2024)
AREAS_PER_COMMUNE = 5
HH_PER_AREA = 40

COMMUNES = [  # (name, type, households)  -- ILLUSTRATIVE counts, not official statistics
    ("Đồng Tâm", "phường", 3850),
    ("Hồng Hà", "phường", 2420),
    ("Minh Tân", "phường", 2760),
    ("Nam Cường", "phường", 1530),
    ("Nguyễn Phúc", "phường", 2050),
    ("Nguyễn Thái Học", "phường", 3180),
    ("Yên Ninh", "phường", 3340),
    ("Yên Thịnh", "phường", 2610),
    ("Hợp Minh", "phường", 1460),
    ("Âu Lâu", "xã", 1720),
    ("Giới Phiên", "xã", 1190),
    ("Minh Bảo", "xã", 1240),
    ("Phúc Lộc", "xã", 980),
    ("Tân Thịnh", "xã", 1870),
    ("Tuy Lộc", "xã", 1310),
    ("Văn Phú", "xã", 1050),
    ("Văn Tiến", "xã", 720),
]
ITEMS = {  # item -> MU (latent offset)
    "ls_income": 0.00,
    "ls_health": 0.30,
    "ls_family": 0.75,
    "ls_social": 0.55,
    "le_rating": 1.00,
    "env_nature": 0.75,
    "env_security": 1.00,
    "env_services": 0.65,
}
CUTS = np.array([-2.2, -1.2, -0.2, 0.55])
YEAR_EFFECT = {2023: 0.0, 2024: 0.15}


def _slug(name: str) -> str:
    base = unicodedata.normalize("NFD", name).replace("đ", "d").replace("Đ", "D")
    base = "".join(ch for ch in base if unicodedata.category(ch) != "Mn")
    return "".join(w[0] for w in base.split()).upper() + base.split()[-1][:2].upper()


def make_frame(rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    for name, kind, hh in COMMUNES:
        k = max(int(round(hh / 80)), 4)
        sizes = rng.multinomial(hh - 45 * k, np.ones(k) / k) + 45
        prefix = "Tổ dân phố" if kind == "phường" else "Thôn"
        code = _slug(name)
        for i, s in enumerate(sizes):
            rows.append((name, kind, f"{code}-{i + 1:02d}", f"{prefix} {i + 1}", int(s)))
    frame = pd.DataFrame(rows, columns=["commune", "commune_type", "village", "village_name", "households"])
    assert frame["village"].is_unique
    return frame


def commune_effects(rng: np.random.Generator) -> dict:
    return {name: (0.15 if kind == "phường" else -0.10) + rng.normal(0, 0.2) for name, kind, _ in COMMUNES}


def draw_year(frame: pd.DataFrame, year: int, ceff: dict, rng: np.random.Generator) -> pd.DataFrame:
    hh = frame.loc[frame.index.repeat(frame["households"]), ["village"]].reset_index(drop=True)
    hh["household"] = hh.groupby("village").cumcount() + 1
    alloc = {name: AREAS_PER_COMMUNE for name, _, _ in COMMUNES}
    s = hi.select(
        frame,
        alloc,
        "pps_systematic",
        seed=int(rng.integers(2**31)),
        stratum="commune",
        size="households",
        psu="village",
        units=hh,
        households_per_psu=HH_PER_AREA,
    )
    s = s.sort_values(["commune", "village", "household"], key=lambda c: c.map(_order) if c.name == "commune" else c)
    s = s.reset_index(drop=True)
    n = len(s)
    area_eff = {v: rng.normal(0, 0.35) for v in pd.unique(s["village"])}
    u = (
        YEAR_EFFECT[year]
        + s["commune"].map(ceff).to_numpy()
        + s["village"].map(area_eff).to_numpy()
        + rng.normal(0, 1, n)
    )
    out = pd.DataFrame(
        {
            "respondent_id": [f"{year}-{i + 1:05d}" for i in range(n)],
            "year": year,
            "commune": s["commune"].to_numpy(),
            "village": s["village"].to_numpy(),
            "household": s["household"].to_numpy(),
            "weight": np.round(s["design_weight"].to_numpy(), 6),
            "sex": np.where(rng.random(n) < 0.52, "Nữ", "Nam"),
            "age_group": rng.choice(["18-34", "35-59", "60+"], size=n, p=[0.34, 0.46, 0.20]),
        }
    )
    for item, mu in ITEMS.items():
        z = u + mu + rng.normal(0, 0.9, n)
        code = 1 + (z[:, None] > CUTS[None, :]).sum(axis=1)
        r = rng.random(n)
        code = np.where(r < 0.015, 8, np.where(r < 0.020, 9, code))
        out[item] = code
    return out


_ORDER = {name: i for i, (name, _, _) in enumerate(COMMUNES)}


def _order(name):
    return _ORDER[name]


def make_margins(frame: pd.DataFrame) -> dict:
    hh = frame.groupby("commune", sort=False)["households"].sum()
    total = int(hh.sum())
    female = int(round(total * 0.52))
    return {
        "_note": "SYNTHETIC margins for the bundled example: households per commune/ward (the frame's "
        "listing) and respondents by sex (52% women, invented). Replace with census counts.",
        "commune": {k: int(v) for k, v in hh.items()},
        "sex": {"Nam": total - female, "Nữ": female},
    }


def generate() -> dict[str, str]:
    rng = np.random.default_rng(SEED)
    frame = make_frame(rng)
    ceff = commune_effects(rng)
    files = {"yen_bai_city_frame.csv": frame.to_csv(index=False, lineterminator="\n")}
    for year in YEARS:
        files[f"yen_bai_city_survey_{year}.csv"] = draw_year(frame, year, ceff, rng).to_csv(
            index=False, lineterminator="\n"
        )
    files["yen_bai_city_margins.json"] = json.dumps(make_margins(frame), ensure_ascii=False, indent=2) + "\n"
    return files


def write_or_check(generate_files, description: str, argv=None) -> int:
    """The command line of a data-generating script: write the bundled files, or ``--check`` them."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--check", action="store_true", help="compare with the bundled files instead of writing")
    args = ap.parse_args(argv)
    files = generate_files()
    if args.check:
        bad = [n for n, t in files.items() if (DATA / n).read_text(encoding="utf-8") != t]
        print("bundled files are up to date" if not bad else f"out of date: {bad}")
        return 1 if bad else 0
    for name, text in files.items():
        (DATA / name).write_text(text, encoding="utf-8")
        print(f"wrote {DATA / name} ({len(text.encode('utf-8')):,} bytes)")
    return 0


def main(argv=None) -> int:
    return write_or_check(generate, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    raise SystemExit(main())

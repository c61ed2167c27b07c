"""Write the bad-file corpus of issue 9 (reading and validation faults) from ``good.csv``.

Run from the repository root:  python tests/data/bad/make_bad_files.py

Every file holds one fault, in each format where it applies (CSV, XLSX, SAV, Parquet).
The files are committed; tests/test_bad_corpus.py says what reading or validating each
one must give. Re-running the script rewrites the same files (openpyxl and pyarrow
write no timestamps that matter to the tests).
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
GOOD = pd.read_csv(HERE / "good.csv")
EXCEL_ERRORS = {1: ("q3", "#N/A"), 3: ("w", "#DIV/0!"), 5: ("q1", "#VALUE!")}


def _excel_error() -> pd.DataFrame:
    d = GOOD.astype(object)
    for row, (col, val) in EXCEL_ERRORS.items():
        d.loc[row, col] = val
    return d


def _id_spaces() -> pd.DataFrame:
    d = GOOD.assign(id=[f"R{i:03d}" for i in GOOD["id"]])
    d.loc[4, "id"] = " R004 "  # row 5 duplicates row 4 once spaces are trimmed
    return d


def _vn_number(x: float) -> str:
    whole, frac = f"{x:.2f}".split(".")
    whole = f"{int(whole):,}".replace(",", ".")
    return whole if frac == "00" else f"{whole},{frac.rstrip('0')}"


def write_csv() -> None:
    _excel_error().to_csv(HERE / "excel_error.csv", index=False)
    _id_spaces().to_csv(HERE / "duplicate_id_spaces.csv", index=False)
    GOOD.assign(q3=np.nan).to_csv(HERE / "empty_item.csv", index=False)
    body = (HERE / "good.csv").read_text("utf-8")
    width = len(GOOD.columns) - 1
    (HERE / "trailing_blank_rows.csv").write_text(body + ("," * width + "\n") * 3, encoding="utf-8")
    (HERE / "title_rows.csv").write_text(
        "Khảo sát hạnh phúc 2024" + "," * width + "\n" + "Thành phố Yên Bái" + "," * width + "\n" + body,
        encoding="utf-8",
    )
    header, rest = body.split("\n", 1)
    (HERE / "duplicate_raw_header.csv").write_text(header.replace(",q2,", ",q1,") + "\n" + rest, encoding="utf-8")
    # the Vietnamese Excel locale: ';' fields, '.' thousands, ',' decimals (weights x 100)
    vn = GOOD.astype({"q3": "Int64", "job_years": "Int64"}).astype(object)
    vn["w"] = [_vn_number(w * 100) for w in GOOD["w"]]
    vn.to_csv(HERE / "vietnamese_thousands.csv", sep=";", index=False)
    raw = body.encode("utf-8")
    bad = "Đông Tâm".encode("cp1258")
    for line in (3, 7):  # two lines saved in the Windows code page, not UTF-8
        parts = raw.split(b"\n")
        parts[line - 1] = (
            parts[line - 1]
            .replace("Phường Đồng Tâm".encode(), b"Ph" + bad)
            .replace("Xã Tân Thịnh".encode(), b"X" + bad)
            .replace("Phường Minh Tân".encode(), b"M" + bad)
        )
        raw = b"\n".join(parts)
    (HERE / "invalid_utf8_lines.csv").write_bytes(raw)


def write_xlsx() -> None:
    import openpyxl

    _excel_error().to_excel(HERE / "excel_error.xlsx", index=False)
    _id_spaces().to_excel(HERE / "duplicate_id_spaces.xlsx", index=False)
    with pd.ExcelWriter(HERE / "title_rows.xlsx") as xw:
        GOOD.to_excel(xw, index=False, startrow=2)
        xw.sheets["Sheet1"]["A1"] = "Khảo sát hạnh phúc 2024"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append([("q1" if c == "q2" else c) for c in GOOD.columns])
    for row in GOOD.itertuples(index=False):
        ws.append([None if isinstance(v, float) and np.isnan(v) else v for v in row])
    wb.save(HERE / "duplicate_raw_header.xlsx")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(list(GOOD.columns))
    for row in GOOD.itertuples(index=False):
        ws.append([None if isinstance(v, float) and np.isnan(v) else v for v in row])
    for _ in range(3):
        ws.append([None] * (len(GOOD.columns) - 1) + [" "])  # blank-looking rows at the end
    wb.save(HERE / "trailing_blank_rows.xlsx")


def write_sav() -> None:
    import pyreadstat

    d = GOOD.copy()
    d.loc[2, "q3"] = 99  # declared user-missing in SPSS, not a code of the spec (0..10)
    d.loc[4, "q1"] = 9  # declared user-missing in SPSS and a missing code of the spec
    pyreadstat.write_sav(d, str(HERE / "user_missing.sav"), missing_ranges={"q3": [99], "q1": [8, 9]})
    pyreadstat.write_sav(GOOD.assign(q3=np.nan), str(HERE / "empty_item.sav"))


def write_parquet() -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = [("q1" if c == "q2" else c) for c in GOOD.columns]
    table = pa.table([pa.array(GOOD[c].tolist()) for c in GOOD.columns], names=names)
    pq.write_table(table, HERE / "duplicate_raw_header.parquet")
    _excel_error().astype({c: str for c in ("q1", "q3", "w")}).to_parquet(HERE / "excel_error.parquet", index=False)
    _id_spaces().to_parquet(HERE / "duplicate_id_spaces.parquet", index=False)
    nfd = GOOD.assign(**{"ghi_chú": "a"})
    nfd.insert(len(nfd.columns), unicodedata.normalize("NFD", "ghi_chú"), "b")
    nfd.to_parquet(HERE / "duplicate_nfc_header.parquet", index=False)


if __name__ == "__main__":
    write_csv()
    write_xlsx()
    write_sav()
    write_parquet()
    print("wrote the bad-file corpus into", HERE)

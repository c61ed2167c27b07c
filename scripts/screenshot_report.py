"""Open the HTML report in headless Chromium and save a screenshot for review.

    python scripts/screenshot_report.py [REPORT_DIR] [--png FILE] [--pdf FILE] [--chromium PATH]

Without REPORT_DIR, the bundled example is run first (``happiness-index run --example``)
into a temporary directory. The screenshot is written next to the report
(``REPORT_DIR/report_screenshot.png``) unless ``--png`` is given.

Chromium comes from Debian's packages (``apt-get install chromium``); when no Chromium is
found the script says so and exits with code 0 and status "skipped", so that it can run in
any CI. Exit codes: 0 screenshot taken or skipped, 1 Chromium failed or produced no image.

What to look at in the PNG: the letterhead (issuing body left; national title, motto, place
and date right), the synthetic-data banner, the Vietnamese diacritics of the commune names
(Nguyễn Thái Học, Đồng Tâm, Âu Lâu) in the tables and charts, and the three charts (embedded in
the page as data URIs: the single file shows them without the PNG files next to it).

``--pdf FILE`` also prints the page to PDF with the report's print stylesheet (A4, the
decree's margins, each section on a new page, no table cut across pages).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")


def find_chromium(explicit: str | None = None) -> str | None:
    """Path of a Chromium executable, or None."""
    if explicit:
        return explicit if Path(explicit).is_file() else None
    for c in CANDIDATES:
        if Path(c).is_file():
            return c
    return shutil.which("chromium") or shutil.which("chromium-browser")


def screenshot(
    html: Path, png: Path, chromium: str, width: int = 1200, height: int = 3600, timeout: float = 120
) -> Path:
    """Render ``html`` with headless Chromium into ``png``.

    Raises
    ------
    RuntimeError
        Chromium exits with an error or writes no image.
    """
    png.parent.mkdir(parents=True, exist_ok=True)
    if png.exists():
        png.unlink()
    with tempfile.TemporaryDirectory(prefix="hi_chromium_") as profile:
        cmd = [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            f"--screenshot={png}",
            html.resolve().as_uri(),
        ]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if not png.is_file() or png.stat().st_size == 0:
        raise RuntimeError(f"Chromium produced no screenshot (exit {r.returncode}): {r.stderr[-800:]}")
    return png


def print_pdf(html: Path, pdf: Path, chromium: str, timeout: float = 120) -> Path:
    """Print ``html`` to ``pdf`` with headless Chromium (the page's print stylesheet applies).

    Raises
    ------
    RuntimeError
        Chromium exits with an error or writes no PDF.
    """
    pdf.parent.mkdir(parents=True, exist_ok=True)
    if pdf.exists():
        pdf.unlink()
    with tempfile.TemporaryDirectory(prefix="hi_chromium_") as profile:
        cmd = [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={profile}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={pdf}",
            html.resolve().as_uri(),
        ]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if not pdf.is_file() or pdf.stat().st_size == 0:
        raise RuntimeError(f"Chromium produced no PDF (exit {r.returncode}): {r.stderr[-800:]}")
    return pdf


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("report_dir", nargs="?", help="a report directory (default: run the example)")
    ap.add_argument("--png", help="where to write the screenshot")
    ap.add_argument("--pdf", help="also print the report to this PDF file (print stylesheet)")
    ap.add_argument("--chromium", help="path of the Chromium executable")
    args = ap.parse_args(argv)
    chromium = find_chromium(args.chromium)
    if chromium is None:
        print("skipped: no Chromium found (apt-get install chromium); nothing to check")
        return 0
    if args.report_dir:
        rep = Path(args.report_dir)
    else:
        sys.path.insert(0, str(ROOT))
        from happiness_index.report.cli import main as cli

        rep = Path(tempfile.mkdtemp(prefix="hi_report_")) / "report"
        if cli(["run", "--example", "--out", str(rep), "--quiet"]) != 0:
            print("the example run failed")
            return 1
    html = rep / "report.html"
    if not html.is_file():
        print(f"no report.html in {rep}")
        return 1
    png = Path(args.png) if args.png else rep / "report_screenshot.png"
    try:
        screenshot(html, png, chromium)
        if args.pdf:
            print_pdf(html, Path(args.pdf), chromium)
    except (RuntimeError, subprocess.TimeoutExpired, OSError) as e:
        print(f"failed: {e}")
        return 1
    print(f"screenshot written to {png} ({png.stat().st_size:,} bytes)")
    if args.pdf:
        print(f"PDF written to {args.pdf}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

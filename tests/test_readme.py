"""The README's tour is real code: run every ```python block of README.md from the repository root."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _python_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_readme_has_a_tour():
    assert _python_blocks(), "README.md should contain a runnable python tour"


def test_readme_tour_runs_as_written(tmp_path):
    code = "\n\n".join(_python_blocks())
    script = tmp_path / "tour.py"
    script.write_text(code, encoding="utf-8")
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONIOENCODING="utf-8")
    proc = subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "yen_bai_nef" in out  # the overall index estimate is printed
    assert "percentage points" in out and "relative" in out

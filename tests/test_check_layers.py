"""``scripts/check_layers.py``: the package's imports go down the layers, without cycles or private names.

The checker is tested on small invented packages (one per rule, plus a clean one), then run
on the real package.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load():
    spec = importlib.util.spec_from_file_location("check_layers", ROOT / "scripts" / "check_layers.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up while the class is built
    spec.loader.exec_module(mod)
    return mod


cl = _load()


def _without_lines(problem: str) -> str:
    return re.sub(r"(happiness_index[\w.]*):\d+", r"\1", problem)


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    """An invented ``happiness_index`` package under ``tmp_path`` with the given modules."""
    pkg = tmp_path / "happiness_index"
    base = {
        "__init__.py": "from .survey.design import SurveyDesign\n__version__ = '0'\n",
        "errors.py": "class HappinessIndexError(Exception):\n    pass\n",
        "survey/__init__.py": "",
        "survey/design.py": "from ..errors import HappinessIndexError\n\n\ndef _helper():\n    return 1\n",
        "index/__init__.py": "",
        "index/composite.py": "from ..survey.design import SurveyDesign\n",
        "report/__init__.py": "",
        "report/cli.py": "from .. import __version__\nfrom ..index import composite\n",
    }
    for rel, text in {**base, **files}.items():
        path = pkg / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return pkg


def test_a_package_that_follows_the_rules_passes(tmp_path):
    assert cl.check(_package(tmp_path, {})) == []


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            {"survey/design.py": "def f():\n    from ..index.composite import x\n"},
            "upward import: happiness_index.survey.design:2 (survey) imports happiness_index.index.composite",
        ),
        (
            {"errors.py": "import happiness_index.report.cli\n"},
            "upward import: happiness_index.errors:1 (errors) imports happiness_index.report.cli",
        ),
        (
            {"index/composite.py": "from .. import SurveyDesign\n"},
            "upward import: happiness_index.index.composite:1 reads SurveyDesign from the package root",
        ),
        (
            {"index/composite.py": "import happiness_index as hi\n"},
            "upward import: happiness_index.index.composite:1 imports the package root happiness_index",
        ),
        (
            {"index/composite.py": "from ..survey.design import _helper\n"},
            "private import: happiness_index.index.composite:1 imports _helper from happiness_index.survey.design",
        ),
        (
            {"index/composite.py": "from ..survey import design\n\ndesign._helper()\n"},
            "private import: happiness_index.index.composite:3 reads _helper of happiness_index.survey.design",
        ),
        (
            {"index/composite.py": "import happiness_index.survey.design as d\nd._helper()\n"},
            "private import: happiness_index.index.composite:2 reads _helper of happiness_index.survey.design",
        ),
        (
            {"survey/_impl.py": "", "index/composite.py": "from ..survey import _impl\n"},
            "private import: happiness_index.index.composite:1 imports private module happiness_index.survey._impl",
        ),
        (
            {"charts.py": "x = 1\n"},
            "no layer: happiness_index.charts ('charts' is not in LAYERS of scripts/check_layers.py)",
        ),
    ],
    ids=[
        "deferred-upward",
        "absolute-upward",
        "root-name",
        "root-module",
        "private-name",
        "private-attr",
        "private-attr-alias",
        "private-module",
        "no-layer",
    ],
)
def test_each_rule_is_caught_with_module_and_line(tmp_path, files, expected):
    assert expected in cl.check(_package(tmp_path, files))


def test_a_cycle_inside_one_layer_is_caught_also_through_deferred_imports(tmp_path):
    files = {
        "survey/design.py": "from .replicates import R\n",
        "survey/quantiles.py": "from .design import D\n",
        "survey/replicates.py": "def f():\n    from .quantiles import q\n",
    }
    problems = cl.check(_package(tmp_path, files))
    assert problems == [
        "import cycle: happiness_index.survey.design <-> happiness_index.survey.quantiles"
        " <-> happiness_index.survey.replicates"
    ]


def test_own_private_names_and_dunders_are_allowed(tmp_path):
    files = {
        "survey/design.py": "from __future__ import annotations\n\n\ndef _a():\n    return _b()\n\n\ndef _b():\n"
        "    return 1\n",
        "report/cli.py": "from .. import __version__\nfrom ..errors import HappinessIndexError\n",
    }
    assert cl.check(_package(tmp_path, files)) == []


def test_command_line_exit_status_and_summary(tmp_path):
    good = _package(tmp_path / "good", {})
    bad = _package(tmp_path / "bad", {"errors.py": "from .report import cli\n"})
    run = [sys.executable, str(ROOT / "scripts" / "check_layers.py")]
    ok = subprocess.run([*run, str(good.parent)], capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout.startswith("0 problem(s)")
    ko = subprocess.run([*run, str(bad)], capture_output=True, text=True)
    assert ko.returncode == 1
    lines = ko.stdout.splitlines()
    assert "upward import: happiness_index.errors:1 (errors) imports happiness_index.report.cli" in lines
    # errors -> report.cli -> errors
    assert any(line.startswith("import cycle: happiness_index.errors <-> ") for line in lines)
    assert lines[-1].startswith(f"{len(lines) - 1} problem(s) in 8 modules")


def test_the_package_has_no_layer_problem():
    problems = sorted(_without_lines(p) for p in cl.check(ROOT / "happiness_index"))
    assert problems == [], f"layer problems: {problems}"

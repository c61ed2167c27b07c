"""The package's public namespace: every contract name importable, loaded lazily (PEP 562).

``import happiness_index`` must not import numpy, pandas, scipy, pandera or matplotlib: a
name is imported from its module when first used. These tests check the laziness in a
fresh interpreter (the test process has imported everything already) and that the lazy
names are the very objects their modules define.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

import happiness_index as hi

ROOT = Path(__file__).resolve().parents[1]

#: names of the public contract (DESIGN.md) as exported before the lazy namespace; never shrink
CONTRACT = {
    "HappinessIndexError", "DesignError", "LonelyPSUError", "EstimationError", "WeightingError",
    "ConvergenceError", "SamplingError", "SpecError", "FormulaError", "SchemaError", "DataFileError",
    "HappinessIndexWarning", "SurveyDesign", "ReplicateDesign", "DomainView", "Estimate", "EstimateTable",
    "Formula", "weighted_quantile", "IndexSpec", "Component", "Item", "validate_survey", "ValidationReport",
    "read_survey", "sample_size", "allocate", "select", "adjust_nonresponse", "post_stratify", "rake",
    "calibrate", "trim_weights", "weight_diagnostics", "compute_index", "IndexResult", "DomainIndexTable",
    "index_from_components", "af_gnh_index", "nef_sensitivity", "cronbach_alpha", "item_analysis", "compare",
    "Change", "ChangeTable", "Trajectory", "Assessment", "PublishedFigure", "load_city_survey",
    "load_city_frame", "load_city_margins", "load_gss", "load_api", "__version__",
}  # fmt: skip

HEAVY = ("numpy", "pandas", "scipy", "pandera", "matplotlib", "openpyxl", "jinja2", "docx", "formulaic")


#: run once in a fresh interpreter: what ``import happiness_index`` loads, then the lazy names at work
PROBE = f"""
import json, sys
import happiness_index as hi
before = sorted(m for m in {HEAVY!r} if m in sys.modules)
subpackage = hi.report.__name__
ns = {{}}
exec("from happiness_index import *", ns)
import happiness_index.survey.design
print(json.dumps({{
    "before": before,
    "pandas_after": "pandas" in sys.modules,
    "cached": "SurveyDesign" in vars(hi),
    "version": hi.__version__,
    "star": sorted(k for k in ns if k != "__builtins__"),
    "dir": dir(hi),
    "subpackages": [subpackage, hi.survey.design.__name__],
}}))
"""


@pytest.fixture(scope="module")
def fresh() -> dict:
    """The facts :data:`PROBE` prints, from a new interpreter with this checkout first on the path."""
    code = f"import sys; sys.path.insert(0, {str(ROOT)!r})\n" + PROBE
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_contract_names_are_all_exported():
    assert CONTRACT <= set(hi.__all__)
    assert len(hi.__all__) == len(set(hi.__all__)), "a name is exported twice"


@pytest.mark.parametrize("name", sorted(set(hi.__all__) - {"__version__"}))
def test_each_name_is_the_object_of_its_defining_module(name):
    module = importlib.import_module(hi._EXPORTS[name], "happiness_index")
    assert getattr(hi, name) is getattr(module, name)


def test_import_loads_no_heavy_library_and_names_load_on_use(fresh):
    assert fresh["before"] == []
    assert fresh["pandas_after"] and fresh["cached"]
    assert fresh["version"] == hi.__version__


def test_star_import_and_dir_list_every_public_name(fresh):
    assert set(fresh["star"]) == set(hi.__all__)
    assert set(hi.__all__) <= set(fresh["dir"])
    assert {"survey", "index", "reading", "report", "questionnaire"} <= set(fresh["dir"])


def test_layer_subpackages_are_attributes(fresh):
    assert fresh["subpackages"] == ["happiness_index.report", "happiness_index.survey.design"]


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        hi.no_such_name  # noqa: B018
    with pytest.raises(ImportError):
        exec("from happiness_index import no_such_name", {})

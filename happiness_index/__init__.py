"""happiness_index: design-based estimation of a survey-based happiness index.

The public API is re-exported here: sample designs (``SurveyDesign``, ``ReplicateDesign``),
estimates (``Estimate``, ``EstimateTable``), validation (``IndexSpec``, ``validate_survey``,
``read_survey``), sampling (``sample_size``, ``allocate``, ``select``), weighting (``rake``,
``calibrate``, ``post_stratify``, ...), the index (``compute_index``) and the year-on-year
comparison (``compare``, ``Trajectory``). ``README.md`` has a tour; ``methodology/`` the methods.

Names are loaded on first use (PEP 562): ``import happiness_index`` costs milliseconds,
and numpy, pandas and scipy are imported only when a name that needs them is first
touched. ``from happiness_index import SurveyDesign``, ``hi.SurveyDesign`` and
``from happiness_index import *`` work as with eager imports; ``dir(hi)`` lists every name.
To export a new public name, add one line to :data:`_EXPORTS` (name -> defining module).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: public name -> the module (relative to this package) that defines it
_EXPORTS: dict[str, str] = {
    # errors and warnings
    "HappinessIndexError": ".errors",
    "DesignError": ".errors",
    "LonelyPSUError": ".errors",
    "EstimationError": ".errors",
    "WeightingError": ".errors",
    "ConvergenceError": ".errors",
    "SamplingError": ".errors",
    "SpecError": ".errors",
    "FormulaError": ".errors",
    "SchemaError": ".errors",
    "DataFileError": ".errors",
    "HappinessIndexWarning": ".errors",
    "DomainDfWarning": ".errors",
    "WeightScaleWarning": ".survey.variance",
    # designs and estimates
    "SurveyDesign": ".survey.design",
    "ReplicateDesign": ".survey.design",
    "DomainView": ".survey.design",
    "Estimate": ".survey.estimators",
    "EstimateTable": ".survey.estimators",
    "Formula": ".questionnaire.formula",
    "weighted_quantile": ".survey.quantiles",
    # index specification, validation, reading files
    "IndexSpec": ".questionnaire.spec",
    "Component": ".questionnaire.spec",
    "Item": ".questionnaire.spec",
    "validate_survey": ".reading.schema",
    "ValidationReport": ".reading.schema",
    "read_survey": ".reading.files",
    # sampling and weighting
    "sample_size": ".survey.sampling",
    "allocate": ".survey.sampling",
    "select": ".survey.sampling",
    "adjust_nonresponse": ".survey.weighting",
    "post_stratify": ".survey.weighting",
    "rake": ".survey.weighting",
    "calibrate": ".survey.weighting",
    "trim_weights": ".survey.weighting",
    "weight_diagnostics": ".survey.weighting",
    # the index
    "compute_index": ".index.composite",
    "IndexResult": ".index.composite",
    "DomainIndexTable": ".index.composite",
    "index_from_components": ".index.composite",
    "af_gnh_index": ".index.composite",
    "nef_sensitivity": ".index.composite",
    "cronbach_alpha": ".index.reliability",
    "item_analysis": ".index.reliability",
    # year-on-year comparison and targets
    "compare": ".index.trajectory",
    "Change": ".index.trajectory",
    "ChangeTable": ".index.trajectory",
    "Trajectory": ".index.trajectory",
    "Assessment": ".index.trajectory",
    "PublishedFigure": ".index.trajectory",
    # bundled data
    "load_city_survey": ".reading.datasets",
    "load_city_frame": ".reading.datasets",
    "load_city_margins": ".reading.datasets",
    "load_gss": ".reading.datasets",
    "load_api": ".reading.datasets",
    "Crosswalk": ".index.crosswalk",
    "index_on_new_units": ".index.crosswalk",
    "load_illustrative_crosswalk": ".index.crosswalk",
    "read_crosswalk": ".index.crosswalk",
    "recode_to_new_units": ".index.crosswalk",
    "rank_intervals": ".index.ranks",
    "SmallAreaIndexTable": ".index.small_area_index",
    "load_city_commune_covariates": ".index.small_area_index",
    "small_area_index": ".index.small_area_index",
    "commune_precision_plan": ".survey.precision",
    "model_plan_inputs": ".survey.precision",
    "FayHerriotFit": ".survey.small_area",
    "fay_herriot": ".survey.small_area",
    "gvf_smooth": ".survey.small_area",
    "RobustnessResult": ".index.robustness",
    "robustness": ".index.robustness",
    "DistributionTable": ".index.distributions",
    "item_distributions": ".index.distributions",
    "svyglm": ".survey.regression",
    "svyolr": ".survey.ordinal",
    "svychisq": ".survey.descriptive",
    "drivers": ".index.drivers",
    "ModelError": ".errors",
}

#: the layer subpackages, reachable as attributes (``hi.survey``) before anything imported them
_SUBPACKAGES = frozenset({"errors", "questionnaire", "reading", "survey", "index", "report"})

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str) -> Any:
    """Import a public name (or a layer subpackage) on first use and keep it in the namespace."""
    module = _EXPORTS.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module, __name__), name)
    elif name in _SUBPACKAGES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__, *_SUBPACKAGES})

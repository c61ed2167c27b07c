"""happiness_index: design-based estimation of a survey-based happiness index.

The public API is re-exported here: sample designs (``SurveyDesign``, ``ReplicateDesign``),
estimates (``Estimate``, ``EstimateTable``), validation (``IndexSpec``, ``validate_survey``,
``read_survey``), sampling (``sample_size``, ``allocate``, ``select``), weighting (``rake``,
``calibrate``, ``post_stratify``, ...), the index (``compute_index``) and the year-on-year
comparison (``compare``, ``Trajectory``). ``README.md`` has a tour; ``methodology/`` the methods.
"""

from .errors import (
    ConvergenceError,
    DataFileError,
    DesignError,
    EstimationError,
    FormulaError,
    HappinessIndexError,
    HappinessIndexWarning,
    LonelyPSUError,
    SamplingError,
    SchemaError,
    SpecError,
    WeightingError,
)

__version__ = "0.1.0"

#: Public name -> the module that defines it. Imported on first use (PEP 562), so that
#: ``import happiness_index`` and ``happiness-index --help`` start without pandas, numpy or
#: matplotlib; ``hi.SurveyDesign`` and ``from happiness_index import *`` work as usual.
_LAZY = {
    "DomainView": ".survey.design",
    "ReplicateDesign": ".survey.design",
    "SurveyDesign": ".survey.design",
    "Estimate": ".survey.estimators",
    "EstimateTable": ".survey.estimators",
    "Formula": ".questionnaire.formula",
    "weighted_quantile": ".survey.quantiles",
    "DomainIndexTable": ".index.composite",
    "IndexResult": ".index.composite",
    "af_gnh_index": ".index.composite",
    "compute_index": ".index.composite",
    "index_from_components": ".index.composite",
    "nef_sensitivity": ".index.composite",
    "cronbach_alpha": ".index.reliability",
    "item_analysis": ".index.reliability",
    "allocate": ".survey.sampling",
    "sample_size": ".survey.sampling",
    "select": ".survey.sampling",
    "read_survey": ".reading.files",
    "ValidationReport": ".reading.schema",
    "validate_survey": ".reading.schema",
    "Component": ".questionnaire.spec",
    "IndexSpec": ".questionnaire.spec",
    "Item": ".questionnaire.spec",
    "Assessment": ".index.trajectory",
    "Change": ".index.trajectory",
    "ChangeTable": ".index.trajectory",
    "PublishedFigure": ".index.trajectory",
    "Trajectory": ".index.trajectory",
    "compare": ".index.trajectory",
    "load_api": ".reading.datasets",
    "load_city_frame": ".reading.datasets",
    "load_city_margins": ".reading.datasets",
    "load_city_survey": ".reading.datasets",
    "load_gss": ".reading.datasets",
    "adjust_nonresponse": ".survey.weighting",
    "calibrate": ".survey.weighting",
    "post_stratify": ".survey.weighting",
    "rake": ".survey.weighting",
    "trim_weights": ".survey.weighting",
    "weight_diagnostics": ".survey.weighting",
}


#: Subpackages, imported on first use as attributes too (``hi.reading.datasets``).
_SUBPACKAGES = ("questionnaire", "reading", "survey", "index", "report")


def __getattr__(name: str):
    from importlib import import_module

    if name in _SUBPACKAGES:  # with the modules that define public names, as an eager import had them
        for module in sorted({m for m in _LAZY.values() if m.startswith(f".{name}.")}):
            import_module(module, __name__)
        return import_module(f".{name}", __name__)
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'happiness_index' has no attribute {name!r}")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    # errors and warnings
    "HappinessIndexError", "DesignError", "LonelyPSUError", "EstimationError", "WeightingError",
    "ConvergenceError", "SamplingError", "SpecError", "FormulaError", "SchemaError", "DataFileError",
    "HappinessIndexWarning",
    # designs and estimates
    "SurveyDesign", "ReplicateDesign", "DomainView", "Estimate", "EstimateTable", "Formula", "weighted_quantile",
    # index specification, validation, reading files
    "IndexSpec", "Component", "Item", "validate_survey", "ValidationReport", "read_survey",
    # sampling and weighting
    "sample_size", "allocate", "select", "adjust_nonresponse", "post_stratify", "rake", "calibrate",
    "trim_weights", "weight_diagnostics",
    # the index
    "compute_index", "IndexResult", "DomainIndexTable", "index_from_components", "af_gnh_index",
    "nef_sensitivity", "cronbach_alpha", "item_analysis",
    # year-on-year comparison and targets
    "compare", "Change", "ChangeTable", "Trajectory", "Assessment", "PublishedFigure",
    # bundled data
    "load_city_survey", "load_city_frame", "load_city_margins", "load_gss", "load_api",
    "__version__",
]

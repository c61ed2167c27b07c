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
    ModelError,
    SamplingError,
    SchemaError,
    SpecError,
    WeightingError,
)
from .survey.design import DomainView, ReplicateDesign, SurveyDesign
from .survey.estimators import Estimate, EstimateTable
from .questionnaire.formula import Formula
from .survey.quantiles import weighted_quantile
from .index.composite import DomainIndexTable, IndexResult, af_gnh_index, compute_index, index_from_components, nef_sensitivity
from .index.reliability import cronbach_alpha, item_analysis
from .survey.sampling import allocate, sample_size, select
from .reading.files import read_survey
from .reading.schema import ValidationReport, validate_survey
from .questionnaire.spec import Component, IndexSpec, Item
from .index.trajectory import Assessment, Change, ChangeTable, PublishedFigure, Trajectory, compare
from .reading.datasets import load_api, load_city_frame, load_city_margins, load_city_survey, load_gss
from .survey.regression import svyglm
from .survey.ordinal import svyolr
from .survey.descriptive import svychisq
from .index.drivers import drivers
from .survey.weighting import adjust_nonresponse, calibrate, post_stratify, rake, trim_weights, weight_diagnostics

__version__ = "0.1.0"

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
    # models, tests and drivers
    "svyglm", "svyolr", "svychisq", "drivers", "ModelError",
]

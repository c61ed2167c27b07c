"""happiness_index: design-based estimation of a survey-based happiness index.

See ``README.md`` for a tour and ``../shared/DESIGN.md`` for the API contract.
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
from .design import DomainView, ReplicateDesign, SurveyDesign
from .estimators import Estimate, EstimateTable
from .formula import Formula
from .quantiles import weighted_quantile
from .index import DomainIndexTable, IndexResult, af_gnh_index, compute_index, index_from_components, nef_sensitivity
from .reliability import cronbach_alpha, item_analysis
from .sampling import allocate, sample_size, select
from .io import read_survey
from .schema import ValidationReport, validate_survey
from .spec import Component, IndexSpec, Item
from .trajectory import Assessment, Change, ChangeTable, PublishedFigure, Trajectory, compare
from .datasets import load_api, load_city_frame, load_city_margins, load_city_survey, load_gss
from .weighting import adjust_nonresponse, calibrate, post_stratify, rake, trim_weights, weight_diagnostics

__version__ = "0.1.0"

"""The library's exceptions and warnings.

Every refusal raises a subclass of :class:`HappinessIndexError`. Messages name the
column, the stratum, the category or the rows at fault and say how to fix it, so a
statistician reading a pipeline log never has to decode a numpy traceback.

The hierarchy is flat on purpose::

    HappinessIndexError (ValueError)
    ├── DesignError        the sample design cannot be built or used as declared
    │   └── LonelyPSUError a stratum has a single PSU under lonely_psu="fail"
    ├── EstimationError    an estimate cannot be computed (empty domain, missing values, ...)
    │   └── ModelError     a regression model cannot be fitted (one-level term, separation, ...)
    ├── WeightingError     calibration, raking or post-stratification cannot be done
    │   └── ConvergenceError  an iterative fit did not converge within its limit
    ├── SamplingError      sample size, allocation or selection request is infeasible
    ├── SpecError          an index specification (TOML) is invalid
    ├── SchemaError        survey microdata fail validation
    ├── FormulaError       an index formula is not in the safe formula language (a SpecError)
    └── DataFileError      a survey file cannot be read

``HappinessIndexError`` derives from :class:`ValueError` so that generic callers that
catch ``ValueError`` keep working.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = [
    "HappinessIndexError",
    "DesignError",
    "LonelyPSUError",
    "EstimationError",
    "ModelError",
    "WeightingError",
    "ConvergenceError",
    "SamplingError",
    "SpecError",
    "FormulaError",
    "SchemaError",
    "DataFileError",
    "HappinessIndexWarning",
    "DomainDfWarning",
    "LonelyPSUWarning",
    "describe_bytes",
    "describe_rows",
]


class HappinessIndexError(ValueError):
    """Base class of every error raised by :mod:`happiness_index`.

    Parameters
    ----------
    *args
        The message (English), as for any exception.
    vi : str, optional
        The same message in Vietnamese, for the errors an office meets first (files it
        cannot read); :meth:`message` gives the one of a language.
    """

    def __init__(self, *args, vi: str | None = None):
        super().__init__(*args)
        self.message_vi = vi

    def message(self, lang: str = "en") -> str:
        """The message in ``lang`` (``"vi"`` when a Vietnamese text was given, else English)."""
        return self.message_vi if lang == "vi" and getattr(self, "message_vi", None) else str(self)


class DesignError(HappinessIndexError):
    """The sample design is inconsistent: weights, strata, PSUs or fpc at fault."""


class LonelyPSUError(DesignError):
    """A stratum has a single PSU and ``lonely_psu="fail"`` is in force."""


class EstimationError(HappinessIndexError):
    """An estimate cannot be computed as asked (empty domain, missing values, non-numeric)."""


class ModelError(EstimationError):
    """A regression model cannot be fitted as asked (one-level term, collinearity, separation, no convergence)."""


class WeightingError(HappinessIndexError):
    """Non-response adjustment, post-stratification, raking or calibration cannot be done."""


class ConvergenceError(WeightingError):
    """An iterative weighting method did not converge within its iteration limit."""


class SamplingError(HappinessIndexError):
    """A sample size, allocation or selection request is infeasible."""


class SpecError(HappinessIndexError):
    """An index specification is invalid (unknown key, bad cut-off, bad formula, ...)."""


class FormulaError(SpecError):
    """A formula is not in the safe formula language, or names an unknown quantity."""


class SchemaError(HappinessIndexError):
    """Survey microdata failed validation; the message counts problems by kind."""

    def __init__(self, message: str, report=None, *, vi: str | None = None):
        super().__init__(message, vi=vi)
        self.report = report


class DataFileError(HappinessIndexError):
    """A survey file cannot be read (unknown format, undecodable bytes, missing reader)."""


class HappinessIndexWarning(UserWarning):
    """Base class of the library's warnings."""


class DomainDfWarning(HappinessIndexWarning):
    """A domain has zero (or negative) design degrees of freedom: its interval is NaN."""


class LonelyPSUWarning(HappinessIndexWarning):
    """A stratum (or a domain within a stratum) has a single PSU."""


def describe_bytes(nbytes: float) -> str:
    """A memory size for a message: ``"512 MiB"``, ``"3.3 GiB"``, ``"25.0 TiB"``."""
    for unit, size in (("TiB", 1024**4), ("GiB", 1024**3)):
        if nbytes >= size:
            return f"{nbytes / size:,.1f} {unit}"
    return f"{nbytes / 1024**2:,.0f} MiB"


def describe_rows(labels: Iterable, limit: int = 10) -> str:
    """Format row labels (or values) for an error message: the first ``limit`` and a count.

    Parameters
    ----------
    labels : iterable
        Row labels, positions or values to show.
    limit : int, default 10
        How many to list before summarising the rest as "... and k more".

    Returns
    -------
    str
        For example ``"3, 7, 12 and 40 more (43 in all)"``.
    """
    items: Sequence = list(labels)
    shown = ", ".join(repr(x) if isinstance(x, str) else str(x) for x in items[:limit])
    if len(items) > limit:
        return f"{shown} and {len(items) - limit} more ({len(items)} in all)"
    return shown

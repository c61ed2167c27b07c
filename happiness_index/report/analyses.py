"""The optional analyses of the annual run: small areas, robustness, item distributions, drivers.

:func:`run_analyses` computes, from a run's validated data, design and index result, the
analyses that :func:`~happiness_index.report.annual.run_annual` attaches to the report
(``SECTIONS.md``):

* ``small_area`` — :func:`~happiness_index.small_area_index` on the commune results when
  commune covariates are given: direct and model (Fay–Herriot, benchmarked) estimates,
  which one is published and why, simultaneous rank intervals;
* ``robustness`` — :func:`~happiness_index.robustness` with ``robustness_draws`` draws
  per scenario when asked (``> 0``), on bootstrap replicates of the run's design
  (calibrated after replication when margins are given);
* ``distributions`` — :func:`~happiness_index.item_distributions` city-wide, whenever the
  spec has items on an ordered scale (by
  commune the table has a row per commune, item and category — 720 rows for the bundled
  example — too long for the report, and on replicate weights it takes seconds per
  commune; call ``hi.item_distributions(design, spec, by="commune")`` for it);
* ``drivers`` — :func:`happiness_index.drivers`, city-wide (see :func:`run_drivers`).

:func:`build_design` is the one place where a run's design is made (both years, and the
replicates of the robustness analysis), so every analysis sees the same weighting.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..errors import HappinessIndexError, HappinessIndexWarning

__all__ = ["build_design", "draw_seed", "run_analyses", "run_drivers", "units_for_change"]

#: Seed of the rank intervals of the small-area table when the run has none (reproducible).
SMALL_AREA_SEED = 20240611


def build_design(
    data: pd.DataFrame,
    spec,
    margins: Mapping | None = None,
    replicates: int | None = None,
    seed: int | None = None,
    calibration_method: str = "raking",
    lonely_psu: str = "fail",
):
    """The run's design of ``data``: the spec's design columns, bootstrap replicates when
    ``replicates`` is set (Rao–Wu, ``seed``), calibrated to ``margins`` when given (after
    replication, so that every replicate is calibrated too).

    Returns
    -------
    (design, calibration_info or None)
    """
    from ..survey.design import SurveyDesign
    from ..survey.weighting import calibrate

    d = spec.design
    design = SurveyDesign(data, weights=d.weights, strata=d.strata, psu=d.psu, fpc=d.fpc, lonely_psu=lonely_psu)
    if replicates:
        design = design.to_replicates("bootstrap", replicates=int(replicates), seed=seed)
    info = None
    if margins:
        design = calibrate(design, margins, method=calibration_method)
        info = getattr(design, "calibration_info", None)
    return design, info


def draw_seed() -> int:
    """A fresh seed from the operating system's entropy, kept to 32 bits so that it can be
    typed back (``--seed``) and read by any JSON or spreadsheet reader."""
    return int(np.random.SeedSequence().entropy % 2**32)


def run_drivers(data: pd.DataFrame, spec, design, *, level: float):
    """The drivers analysis of the run (:func:`happiness_index.drivers`, city-wide), or None.

    A spec the drivers analysis cannot serve (no component to take the outcome from, no
    item to relate it to) gives None and a :class:`HappinessIndexWarning` saying why: the
    rest of the report does not depend on it.
    """
    result, reason = _drivers_or_reason(data, spec, design, level)
    if reason is not None:
        warnings.warn(f"the drivers analysis was skipped: {reason}", HappinessIndexWarning, stacklevel=3)
    return result


def _drivers_or_reason(data, spec, design, level: float):
    """(DriversResult, None), or (None, why the analysis cannot be done)."""
    from ..index.drivers import drivers

    try:
        return drivers(data, spec, design=design, level=level), None
    except HappinessIndexError as e:
        return None, str(e)


def _small_area(result, covariates: pd.DataFrame, spec, level: float, seed: int | None):
    from ..index.small_area_index import small_area_index

    area = spec.design.commune or "commune"
    return small_area_index(result, covariates, area=area, level=level, seed=SMALL_AREA_SEED if seed is None else seed)


def _robustness(data, spec, design, draws: int, seed: int, targets, build: dict):
    from ..index.robustness import robustness
    from ..survey.design import ReplicateDesign

    if not isinstance(design, ReplicateDesign):  # a calibrated Taylor design cannot be replicated afterwards
        design, _ = build_design(data, spec, replicates=draws, seed=seed, **build)
    return robustness(data, spec, design=design, draws=draws, seed=seed, targets=targets, progress=False)


def run_analyses(
    data: pd.DataFrame,
    spec,
    design,
    result,
    *,
    level: float = 0.95,
    seed: int | None = None,
    area_covariates: pd.DataFrame | None = None,
    robustness_draws: int = 0,
    drivers: bool = True,
    targets: Any = None,
    margins: Mapping | None = None,
    calibration_method: str = "raking",
    lonely_psu: str = "fail",
) -> tuple[dict, dict]:
    """Compute the optional analyses of a run.

    Parameters
    ----------
    data : DataFrame
        The validated microdata of the year (``ValidationReport.data``); never modified.
    spec : IndexSpec
    design : SurveyDesign or ReplicateDesign
        The run's design of ``data`` (from :func:`build_design`).
    result : IndexResult
        The run's index, by commune when the spec has a commune column.
    level : float
    seed : int, optional
        The run's seed; the robustness analysis draws one when it is None.
    area_covariates : DataFrame, optional
        One row per commune (the spec's commune column, ``households`` and numeric
        predictors): the small-area analysis runs when given.
    robustness_draws : int, default 0
        Draws per scenario of the robustness analysis; 0 skips it.
    drivers : bool
    targets : Trajectory, optional
        Targets whose attainment the robustness analysis counts (default: the spec's).
    margins, calibration_method, lonely_psu
        As the run's weighting (the robustness replicates are calibrated the same way).

    Returns
    -------
    (dict, dict)
        ``{section: producer result or None}`` for every section of ``OPTIONAL_SECTIONS``,
        and facts to record in the provenance (``robustness_seed``,
        ``robustness_seed_drawn``).

    Raises
    ------
    HappinessIndexError
        What the producers refuse (covariates missing for a commune, an unsupported spec
        for the robustness analysis, ...), with their messages.
    """
    from ..index.distributions import item_distributions

    out: dict = {"drivers": None, "small_area": None, "robustness": None, "distributions": None}
    facts: dict = {}
    if drivers:
        out["drivers"], why = _drivers_or_reason(data, spec, design, level)
        if why is not None:  # a warning now, and the report says why the section is missing
            warnings.warn(f"the drivers analysis was skipped: {why}", HappinessIndexWarning, stacklevel=3)
            facts["drivers_skipped"] = why
    if area_covariates is not None:
        out["small_area"] = _small_area(result, area_covariates, spec, level, seed)
    if robustness_draws:
        rseed = seed if seed is not None else draw_seed()
        facts.update(robustness_seed=rseed, robustness_seed_drawn=seed is None)
        build = {"margins": margins, "calibration_method": calibration_method, "lonely_psu": lonely_psu}
        out["robustness"] = _robustness(data, spec, design, int(robustness_draws), rseed, targets, build)
    if has_ordered_items(spec):
        out["distributions"] = item_distributions(design, spec, level=level)
    return out, facts


def has_ordered_items(spec) -> bool:
    """Whether the spec has an item whose answer distribution :func:`item_distributions` shows
    (a numeric ``likert5`` or ``scale0_10`` item, or a bounded ``integer`` with at most 101 values)."""
    for it in spec.items:
        if not getattr(it, "numeric", False):
            continue
        if it.type in ("likert5", "scale0_10"):
            return True
        if it.type == "integer" and it.minimum is not None and it.maximum is not None and it.maximum - it.minimum < 101:
            return True
    return False


def units_for_change(
    data: pd.DataFrame,
    previous: pd.DataFrame,
    spec,
    result,
    crosswalk,
    *,
    level: float,
    seed: int | None = None,
    **build,
) -> tuple[Any, Any, dict]:
    """Both years on this year's units, for the change table, through a boundary crosswalk.

    The previous year is re-estimated from its own microdata on the crosswalk's new units
    (:func:`~happiness_index.recode_to_new_units`: each new unit is a domain of the old
    design, weighted as the run weights, see :func:`build_design`). This year is used as it
    is when its communes are the new units; when they are still the old units (the
    crosswalk describes a reform taking effect later) it is recoded the same way, so that the
    change compares like with like.

    Parameters
    ----------
    data, previous : DataFrame
        The two years' validated microdata (never modified).
    spec : IndexSpec
    result : IndexResult
        This year's index by commune.
    crosswalk : DataFrame or Crosswalk
        See :func:`~happiness_index.read_crosswalk`.
    level, seed, **build
        As the run (``margins``, ``replicates``, ``calibration_method``, ``lonely_psu``).

    Returns
    -------
    (IndexResult, IndexResult, dict)
        This year's and last year's results on the new units, and the JSON-able record
        ``{"this_year_recoded", "flags"}`` (flags per new unit: parts sampled, respondents,
        ``complete``, ``reason_en``, ``reason_vi``).

    Raises
    ------
    EstimationError
        This year's communes are neither all new units nor all old units of the crosswalk;
        anything :func:`recode_to_new_units` refuses.
    """
    from ..errors import EstimationError
    from ..index.composite import compute_index, to_jsonable
    from ..index.crosswalk import read_crosswalk, recode_to_new_units

    cw = crosswalk if hasattr(crosswalk, "table") else read_crosswalk(crosswalk)
    unit = spec.design.commune
    village = spec.design.village or spec.design.psu
    units = set(data[unit].dropna().map(str))
    old_units, new_units = set(cw.table["old_unit"].map(str)), set(map(str, cw.new_units))

    def on_new(frame):
        recoded, flags = recode_to_new_units(frame, cw, unit=unit, village=village)
        design, _ = build_design(recoded, spec, seed=seed, **build)
        return compute_index(recoded, spec, design=design, by="new_unit", level=level, seed=seed), flags

    if units <= new_units:
        current, recoded_now = result, False
    elif units <= old_units:
        current, recoded_now = on_new(data)[0], True
    else:
        raise EstimationError(
            f"crosswalk: this year's communes {sorted(units - new_units)[:5]} are neither the "
            "crosswalk's new units nor its old units; check the crosswalk's new_unit column"
        )
    prev, flags = on_new(previous)
    return current, prev, {"this_year_recoded": recoded_now, "flags": to_jsonable(flags.to_dict(orient="records"))}

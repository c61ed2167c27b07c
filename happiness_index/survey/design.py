"""Sample designs analysed by Taylor linearization.

:class:`SurveyDesign` describes a probability sample: weights, strata, clusters at
one or more stages and finite population corrections. :class:`ReplicateDesign`
describes the same sample through replicate weights (JK1, JKn, BRR, Fay, bootstrap,
or published weights). Both expose the same estimators — ``mean``, ``total``,
``proportion``, ``ratio``, ``quantile`` — and domain estimation through ``by()`` and
``subset()``.

Variance
--------
Every estimate is a smooth function of weighted totals; the variance engine
(:mod:`happiness_index.survey.variance`) turns it into estimates, influence values and
a covariance. This module describes the design to the engine: it codes strata and
clusters per stage, checks and converts the fpc, derives weights, and hands the engine
a :class:`~happiness_index.survey.variance.TaylorScheme` (Taylor linearization over the
stages, with R's lonely-PSU rules and calibration adjusters). The estimators
themselves live in :mod:`happiness_index.survey.analysis`; replicate designs in
:mod:`happiness_index.survey.replicates`. Imports flow one way:
``variance <- quantiles <- analysis <- replicates <- design``.

Domains (``by``, ``subset``, ``na_rm=True``) are always estimated on the full design:
rows outside the domain keep their PSU and stratum and contribute zero, never dropped.

References
----------
Lumley, T. (2010). *Complex Surveys: A Guide to Analysis Using R*. Wiley.
Särndal, C.-E., Swensson, B. & Wretman, J. (1992). *Model Assisted Survey Sampling*. Springer.
Wolter, K. M. (2007). *Introduction to Variance Estimation*, 2nd ed. Springer.
Woodruff, R. S. (1952). Confidence intervals for medians and other position measures. *JASA* 47.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DesignError, EstimationError, describe_rows
from .analysis import (
    DesignEstimators,
    DomainView,
    as_list,
    check_bool,
    check_column,
    check_duplicate_columns,
    check_key_types,
)
from .replicates import ReplicateDesign, build_replicates
from .variance import (
    LONELY_RULES,
    Stage,
    Statistic,
    StatisticEstimate,
    TaylorScheme,
    factor_codes,
    nfc_keys,
    srs_variance,
)

__all__ = ["DomainView", "ReplicateDesign", "SurveyDesign", "srs_variance"]


# ---------------------------------------------------------------------------
# SurveyDesign
# ---------------------------------------------------------------------------


def _first_rows(codes: np.ndarray) -> np.ndarray:
    """Row of the first appearance of each code, for codes numbered in order of first appearance.

    The running maximum of such codes rises exactly at each code's first row: O(n), no sort.
    """
    if len(codes) == 0:
        return np.zeros(0, dtype=np.int64)
    rm = np.maximum.accumulate(codes)
    return np.flatnonzero(np.r_[True, rm[1:] > rm[:-1]])


class SurveyDesign(DesignEstimators):
    """A probability sample design analysed by Taylor linearization.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per respondent. Never modified.
    weights : str, optional
        Name of the column of sampling weights (inverse inclusion probabilities). A
        Series or array is refused (:class:`DesignError`): add it to the data and pass
        its name, so the weights can never be misaligned with the rows. When None,
        weights are derived from ``fpc`` (``1 / Π_s n_s/N_s``) or, without fpc, all
        equal to 1. Zero weights are allowed: such rows are outside every domain but
        keep their PSU in the design (R's behaviour for subsets). Calibrated designs
        may carry negative weights (unbounded linear calibration); only zero weights
        put a row out of scope, as in R.
    strata : str, optional
        Stratum column (stage 1).
    psu : str or list of str, optional
        Cluster column(s), stage 1 first. None: every respondent is its own PSU.
        Later-stage units are always nested in their earlier-stage unit.
    fpc : str, number or list, optional
        One entry per stage: a column (or a constant) holding either the population
        count (number of PSUs in the stratum at stage 1; of units in the PSU at later
        stages) or the sampling fraction. Values all >= 1 are read as counts, all <= 1
        as fractions (N = n / f); a mix is an error. Without fpc, sampling is treated as
        with replacement at stage 1 and later stages add nothing; with an fpc for fewer
        stages than ``psu``, the later stages are taken as complete.
    nest : bool, default False
        True: PSU codes are unique only within a stratum (R's ``nest=TRUE``).
    lonely_psu : {"fail", "remove", "adjust", "average", "certainty"}, default "fail"
        What to do with a stratum that has a single PSU (R's ``survey.lonely.psu``):
        "fail" raises :class:`LonelyPSUError` at variance time; "remove" and "certainty"
        give it no variance contribution; "adjust" centres it at zero (the grand mean of the
        influence values) instead of the stratum mean; "average" replaces it by the average
        of the other strata's contributions.
    adjust_domain_lonely : bool, default False
        R's ``survey.adjust.domain.lonely``: also apply ``lonely_psu`` when a stratum has
        several PSUs but only one contains members of the domain.

    Raises
    ------
    DesignError
        Unknown or duplicate columns; ``weights``/``strata``/``psu`` given as values
        instead of column names; missing, non-finite or negative weights; missing strata
        or PSU codes; a key column mixing numbers and text (1 and "1"); a PSU code in two
        strata without ``nest=True``; ``nest``/``adjust_domain_lonely`` not True/False;
        an fpc that varies within a stratum, mixes counts and fractions, or is smaller
        than the sampled count; an infinite fpc without ``weights``.

    Notes
    -----
    ``df`` is the number of PSUs minus the number of strata (R's ``degf``). Intervals use
    t quantiles on ``df``; domains use their own df (PSUs with domain members minus their
    strata).

    Examples
    --------
    >>> import happiness_index as hi
    >>> d = hi.SurveyDesign(df, weights="pw", strata="stype", fpc="fpc")   # doctest: +SKIP
    >>> d.mean("api00").se                                                  # doctest: +SKIP
    9.402772

    References
    ----------
    Lumley, T. (2010). *Complex Surveys: A Guide to Analysis Using R*. Wiley.
    Särndal, C.-E., Swensson, B. & Wretman, J. (1992). *Model Assisted Survey Sampling*.
    Springer (multistage variance; Taylor linearisation).
    """

    _variance_method = "taylor"

    def __init__(
        self,
        data: pd.DataFrame,
        weights: str | None = None,
        strata: str | None = None,
        psu=None,
        fpc=None,
        nest: bool = False,
        lonely_psu: str = "fail",
        adjust_domain_lonely: bool = False,
    ):
        if not isinstance(data, pd.DataFrame):
            raise DesignError(f"data must be a pandas DataFrame, got {type(data).__name__}")
        if len(data) == 0:
            raise DesignError("data has no rows")
        if not isinstance(lonely_psu, str) or lonely_psu not in LONELY_RULES:
            raise DesignError(f"lonely_psu={lonely_psu!r} is not a rule; use one of {LONELY_RULES}")
        check_duplicate_columns(data)
        for what, arg in (("weights", weights), ("strata", strata)):
            if isinstance(arg, (pd.Series, pd.DataFrame, np.ndarray, list, tuple)):
                raise DesignError(
                    f"{what}= takes a column name, not a {type(arg).__name__}; add the values to the data "
                    f"(data = data.assign({what}_col=values)) and pass {what}='{what}_col'"
                )
        for arg in as_list(psu):
            if isinstance(arg, (pd.Series, pd.DataFrame, np.ndarray, list, tuple)):
                raise DesignError(
                    f"psu= takes column names, not a {type(arg).__name__}; add the cluster codes to the data "
                    "and pass the column name"
                )
        nest = check_bool(nest, "nest")
        adjust_domain_lonely = check_bool(adjust_domain_lonely, "adjust_domain_lonely")
        self._data = data
        self._n = len(data)
        self.weights_column = weights
        self.strata_column = strata
        self.psu_columns = as_list(psu)
        self.fpc_spec = fpc
        self.nest = bool(nest)
        self.lonely_psu = lonely_psu
        self.adjust_domain_lonely = bool(adjust_domain_lonely)
        self._domain = None
        self._adjusters: tuple = ()
        self._reweighted = False
        self._build()

    # ------------------------------------------------------------ construction
    def _build(self) -> None:
        """Code strata and clusters, read the fpc, derive the stages and the weights (checks first)."""
        data = self._data
        for c in [self.weights_column, self.strata_column, *self.psu_columns]:
            if c is not None:
                check_column(data, c, "design")
        strat_codes, strat_labels = self._strata_codes()
        cluster_arrays = self._cluster_arrays()
        self._check_nesting(strat_codes, cluster_arrays[0])
        # nested cluster codes per stage (stage s unit = (stratum, c1, ..., cs))
        stage_codes = []
        prev = strat_codes
        for c, arr in zip(self.psu_columns or ["row"], cluster_arrays):
            a_codes, a_labels = factor_codes(arr)
            if arr.dtype == object:
                check_key_types(pd.Series(a_labels, dtype=object), c)
            codes, _ = factor_codes(prev.astype(np.int64) * (a_codes.max() + 1) + a_codes)
            stage_codes.append(codes)
            prev = codes
        self._stage_labels = [np.asarray(arr) for arr in cluster_arrays]
        fpc_vals, is_count = self._fpc_values(len(stage_codes))
        self.fpc_kind = None if not fpc_vals else ("population count" if is_count else "sampling fraction")
        stages, probs = self._stages_from_codes(
            strat_codes, strat_labels, stage_codes, cluster_arrays, fpc_vals, is_count
        )
        self._stages = stages
        self._all_stage_codes = stage_codes
        self._w = self._analysis_weights(probs, bool(fpc_vals))
        self._fine = stage_codes[-1] if fpc_vals else stage_codes[0]
        self._n_fine = int(self._fine.max()) + 1

    def _strata_codes(self) -> tuple[np.ndarray, np.ndarray]:
        """Stratum code per row and the stratum labels (one stratum "(all)" without strata)."""
        data = self._data
        if self.strata_column is None:
            return np.zeros(self._n, dtype=np.int64), np.array(["(all)"], dtype=object)
        s = data[self.strata_column]
        if s.isna().any():
            raise DesignError(
                f"strata column {self.strata_column!r} has missing values at rows "
                f"{describe_rows(data.index[s.isna()])}; every respondent needs a stratum"
            )
        s = nfc_keys(s)
        strat_codes, strat_labels = factor_codes(s)
        check_key_types(pd.Series(strat_labels, dtype=object), self.strata_column)
        return strat_codes, strat_labels

    def _cluster_arrays(self) -> list[np.ndarray]:
        """The cluster codes of every stage (the row number when there is no PSU column)."""
        data = self._data
        arrays = []
        for c in self.psu_columns:
            v = data[c]
            if v.isna().any():
                raise DesignError(
                    f"PSU column {c!r} has missing values at rows {describe_rows(data.index[v.isna()])}; "
                    "every respondent needs a cluster code"
                )
            arrays.append(v.to_numpy())
        self._ultimate_rows = not arrays
        return arrays or [np.arange(self._n)]

    def _check_nesting(self, strat_codes: np.ndarray, stage1: np.ndarray) -> None:
        """Without ``nest=True`` a PSU code must belong to one stratum."""
        if self.strata_column is None or self.nest:
            return
        c1_codes, c1_labels = factor_codes(stage1)
        # one of each PSU's strata (whichever row wrote last); a PSU in two strata has a row that differs
        some_stratum = np.zeros(int(c1_codes.max()) + 1, dtype=np.int64)
        some_stratum[c1_codes] = strat_codes
        bad = np.unique(c1_codes[strat_codes != some_stratum[c1_codes]])
        if len(bad):
            labs = [c1_labels[b] for b in bad]
            raise DesignError(
                f"PSU codes {describe_rows(labs)} of column {self.psu_columns[0]!r} appear in more than one "
                f"stratum of {self.strata_column!r}: clusters are not nested in strata. If the codes are "
                "only unique within a stratum (1, 2, 3 in every stratum), pass nest=True."
            )

    def _fpc_values(self, n_stages: int) -> tuple[list, bool]:
        """The fpc of each stage as (values per row, name), and whether they are counts (else fractions)."""
        data, n = self._data, self._n
        fpc_list = as_list(self.fpc_spec) if not isinstance(self.fpc_spec, (int, float)) else [self.fpc_spec]
        if len(fpc_list) > n_stages:
            raise DesignError(f"fpc has {len(fpc_list)} stages but psu has {n_stages}; give one fpc per sampling stage")
        fpc_vals = []
        for spec in fpc_list:
            if isinstance(spec, (int, float, np.integer, np.floating)) and not isinstance(spec, bool):
                vals = np.full(n, float(spec))
                name = f"fpc (constant {spec})"
            else:
                check_column(data, spec, "fpc")
                col = data[spec]
                if not pd.api.types.is_numeric_dtype(col):
                    raise DesignError(f"fpc column {spec!r} must be numeric (population counts or sampling fractions)")
                vals = col.to_numpy(dtype="float64", na_value=np.nan)
                name = repr(spec)
                if np.isnan(vals).any():
                    raise DesignError(
                        f"fpc column {spec!r} has missing values at rows {describe_rows(data.index[np.isnan(vals)])}"
                    )
            if np.isneginf(vals).any() or (vals <= 0).any():
                raise DesignError(
                    f"fpc {name} has zero or negative values at rows {describe_rows(data.index[vals <= 0])}"
                )
            fpc_vals.append((vals, name))
        if not fpc_vals:
            return fpc_vals, True
        is_count = any(bool((v > 1).any()) for v, _ in fpc_vals)
        if is_count and any(bool((v < 1).any()) for v, _ in fpc_vals):
            raise DesignError(
                "fpc mixes population counts (> 1) and sampling fractions (< 1); give all stages the same kind"
            )
        return fpc_vals, is_count

    def _stage_factors(self, s, stratum_row, stratum_lab, npsu, fpc_vals, is_count):
        """Variance factor ``f`` and sampling fraction per stratum of stage ``s`` (checks the fpc)."""
        H = len(npsu)
        if s >= len(fpc_vals):
            # complete sampling at stages without fpc (when an earlier one has it); else with replacement
            return (np.zeros(H), np.ones(H)) if fpc_vals else (np.ones(H), np.ones(H))
        vals, name = fpc_vals[s]
        h_val = np.zeros(H)
        h_val[stratum_row] = vals  # one value per stratum; a stratum with two has a row that differs
        varies = vals != h_val[stratum_row]
        if varies.any():
            bad_h = np.unique(stratum_row[varies])[:5]
            what = "stratum" if s == 0 else f"stage-{s} unit"
            labs = [stratum_lab[h] if s == 0 else h for h in bad_h]
            raise DesignError(
                f"fpc {name} varies within a {what} ({describe_rows(labs)}); the population size must be "
                "the same for every respondent of a stratum"
            )
        Npop = h_val if is_count else npsu / h_val
        too_small = Npop < npsu - 1e-9
        if too_small.any():
            bad_h = np.flatnonzero(too_small)[:5]
            labs = [str(stratum_lab[h]) if s == 0 else str(h) for h in bad_h]
            raise DesignError(
                f"fpc {name} is smaller than the number of sampled units at stage {s + 1} in "
                f"{'strata' if s == 0 else 'units'} {labs} (population {Npop[bad_h].tolist()} < sampled "
                f"{npsu[bad_h].tolist()}): the fpc must be the population count N_h >= n_h, or a fraction"
            )
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(np.isinf(Npop), 1.0, (Npop - npsu) / Npop), npsu / Npop

    def _stages_from_codes(self, strat_codes, strat_labels, stage_codes, cluster_arrays, fpc_vals, is_count):
        """The engine's :class:`Stage` list and each row's inclusion probability (product of fractions)."""
        n = self._n
        stages: list[Stage] = []
        mult_row = np.ones(n)
        stratum_row, stratum_lab = strat_codes, strat_labels
        for s, ccodes in enumerate(stage_codes):
            H = int(stratum_row.max()) + 1
            C = int(ccodes.max()) + 1
            first = _first_rows(ccodes)
            cl_stratum = np.empty(C, dtype=np.int64)
            cl_stratum[ccodes[first]] = stratum_row[first]
            npsu = np.bincount(cl_stratum, minlength=H).astype(float)
            f, frac = self._stage_factors(s, stratum_row, stratum_lab, npsu, fpc_vals, is_count)
            mult_h = np.zeros(H)
            mult_h[stratum_row] = mult_row
            stages.append(
                Stage(
                    stratum=stratum_row,
                    cluster=ccodes,
                    n_strata=H,
                    n_clusters=C,
                    cluster_stratum=cl_stratum,
                    npsu=npsu,
                    f=f,
                    mult=mult_h,
                    frac=frac,
                    stratum_labels=np.asarray(stratum_lab, dtype=object),
                    cluster_labels=np.arange(C),
                )
            )
            mult_row = mult_row * frac[stratum_row]
            if not fpc_vals:
                break  # with replacement: later stages never enter the variance
            # later stages are "stratified" by the units of this stage: label them by their codes
            cols_so_far = self.psu_columns[: s + 1] if self.psu_columns else ["row"]
            stratum_lab = np.array(
                [", ".join(f"{c}={a[i]}" for c, a in zip(cols_so_far, cluster_arrays[: s + 1])) for i in first],
                dtype=object,
            )
            stratum_row = ccodes
        return stages, mult_row

    def _analysis_weights(self, probs: np.ndarray, has_fpc: bool) -> np.ndarray:
        """The weights column (checked), else ``1 / inclusion probability`` from the fpc, else ones."""
        data = self._data
        if self.weights_column is None:
            if not has_fpc:
                return np.ones(self._n)
            if not (probs > 0).all():
                raise DesignError(
                    "weights cannot be derived from an infinite fpc (an infinite population gives a zero "
                    "inclusion probability); pass weights= explicitly"
                )
            return 1.0 / probs
        wcol = data[self.weights_column]
        if not pd.api.types.is_numeric_dtype(wcol):
            raise DesignError(f"weights column {self.weights_column!r} must be numeric, it is {wcol.dtype}")
        w = wcol.to_numpy(dtype="float64", na_value=np.nan)
        bad = ~np.isfinite(w)
        if bad.any():
            raise DesignError(
                f"weights column {self.weights_column!r} has missing or infinite values at rows "
                f"{describe_rows(data.index[bad])}; every respondent needs a finite weight"
            )
        if (w < 0).any():
            raise DesignError(
                f"weights column {self.weights_column!r} has negative values at rows "
                f"{describe_rows(data.index[w < 0])}; weights are inverse inclusion probabilities and must be > 0"
            )
        if not (w > 0).any():
            raise DesignError(f"all weights in {self.weights_column!r} are zero")
        return w

    # ------------------------------------------------------------ properties
    @property
    def df(self) -> float:
        """Design degrees of freedom: PSUs minus strata (of the domain, for a subset design).

        PSUs whose respondents all have weight zero are not counted, as R's ``degf``
        (``weights != 0``), so the design's df equals the df of its estimates.
        """
        st = self._stages[0]
        m = self._domain_mask()
        if self._domain is None and m.all():
            return float(st.n_clusters - st.n_strata)
        cl = np.unique(st.cluster[m])
        return float(len(cl) - len(np.unique(st.cluster_stratum[cl])))

    def _with_domain(self, mask: np.ndarray) -> SurveyDesign:
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new._domain = mask
        return new

    _UPDATE_NAMES = ("data", "weights", "strata", "psu", "fpc", "nest", "lonely_psu", "adjust_domain_lonely")

    def update(self, **kw) -> SurveyDesign:
        """A new design with some attributes replaced (``weights``, ``lonely_psu``, ...).

        The design is immutable: calibration and changes of rule return new objects.

        Parameters
        ----------
        **kw
            Any of ``data``, ``weights``, ``strata``, ``psu``, ``fpc``, ``nest``,
            ``lonely_psu``, ``adjust_domain_lonely`` (the constructor's arguments).

        Returns
        -------
        SurveyDesign
            Changing only ``lonely_psu``/``adjust_domain_lonely`` copies this design and
            keeps its weights, calibration adjusters and domain (the rules act at
            variance time only). Other changes rebuild the design from the data.

        Raises
        ------
        DesignError
            An unknown name; a change other than the lonely-PSU rules on a calibrated
            (or otherwise re-weighted) design, whose calibration would be silently lost:
            re-run the calibration on the new design instead.
        """
        unknown = [k for k in kw if k not in self._UPDATE_NAMES]
        if unknown:
            raise DesignError(f"update() does not know {unknown}; it accepts {list(self._UPDATE_NAMES)}")
        if kw and set(kw) <= {"lonely_psu", "adjust_domain_lonely"}:
            new = object.__new__(type(self))
            new.__dict__.update(self.__dict__)
            if "lonely_psu" in kw:
                if not isinstance(kw["lonely_psu"], str) or kw["lonely_psu"] not in LONELY_RULES:
                    raise DesignError(f"lonely_psu={kw['lonely_psu']!r} is not a rule; use one of {LONELY_RULES}")
                new.lonely_psu = kw["lonely_psu"]
            if "adjust_domain_lonely" in kw:
                new.adjust_domain_lonely = check_bool(kw["adjust_domain_lonely"], "adjust_domain_lonely")
            return new
        if getattr(self, "_reweighted", False) or self._adjusters:
            raise DesignError(
                f"update({', '.join(kw)}) on a calibrated (re-weighted) design would rebuild it from the data and "
                "lose the calibrated weights. Update the original design, then re-run the calibration on the new "
                "design (only lonely_psu and adjust_domain_lonely can be changed in place)"
            )
        args = dict(
            weights=self.weights_column,
            strata=self.strata_column,
            psu=self.psu_columns or None,
            fpc=self.fpc_spec,
            nest=self.nest,
            lonely_psu=self.lonely_psu,
            adjust_domain_lonely=self.adjust_domain_lonely,
        )
        data = kw.pop("data", self._data)
        args.update(kw)
        return SurveyDesign(data, **args)

    def _with_weights(self, w: np.ndarray, adjuster=None) -> SurveyDesign:
        """Internal: a copy with new analysis weights and, optionally, one more influence adjuster."""
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new._w = np.asarray(w, dtype=float)
        new._reweighted = True
        if adjuster is not None:
            new._adjusters = self._adjusters + (adjuster,)
        return new

    def __repr__(self) -> str:
        st = self._stages[0]
        return (
            f"SurveyDesign(n={self._n}, strata={st.n_strata if self.strata_column else 'none'}, "
            f"PSUs={st.n_clusters}, stages={len(self._all_stage_codes)}, df={self.df:g}, "
            f"fpc={self.fpc_kind or 'none (with replacement)'}, lonely_psu={self.lonely_psu!r})"
        )

    # ------------------------------------------------------------ the engine
    def _scheme(self) -> TaylorScheme:
        """The variance engine's view of this design (stages, lonely-PSU rules, calibration)."""
        return TaylorScheme(
            stages=tuple(self._stages),
            fine=self._fine,
            n_fine=self._n_fine,
            lonely_psu=self.lonely_psu,
            adjust_domain_lonely=self.adjust_domain_lonely,
            adjusters=tuple(self._adjusters),
        )

    def _domain_df(self, dom: np.ndarray, D: int) -> np.ndarray:
        return self._stages[0].domain_df(dom, D)

    def _estimate_stat(self, stat: Statistic, dom: np.ndarray, D: int) -> StatisticEstimate:
        return self._scheme().estimate(stat, self._w, dom, D)

    def influence_vcov(self, influence, domain=None) -> np.ndarray:
        """Design covariance of a linearised statistic from its weighted influence values.

        The public hook of the variance engine for statistics the design's own estimators
        do not cover (regression coefficients, model-based composites): Taylor linearization
        over the design's stages, with the strata, fpc, lonely-PSU rule and any calibration
        adjustment of this design, as R's ``svyrecvar``.

        Parameters
        ----------
        influence : array-like, shape (n,) or (n, p)
            Weighted influence values, one row per row of ``design.data`` (already multiplied
            by the analysis weight), so that the linearised statistic is their column sum.
            Rows outside ``domain`` must be 0.
        domain : array-like of bool, shape (n,), optional
            Rows in the domain; PSUs with no domain rows still count (domain estimation on
            the full design). Default: this design's own domain (all rows with non-zero weight).

        Returns
        -------
        numpy.ndarray, shape (p, p)
            The covariance matrix.

        Raises
        ------
        EstimationError
            ``influence`` has the wrong number of rows or holds non-finite values.
        LonelyPSUError
            A stratum has one PSU under ``lonely_psu="fail"``.

        References
        ----------
        Lumley, T. (2010). *Complex Surveys*, Wiley, §2.2 and appendix C (svyrecvar).
        """
        Z = np.asarray(influence, dtype=float)
        Z = Z[:, None] if Z.ndim == 1 else Z
        if Z.ndim != 2 or Z.shape[0] != self._n:
            raise EstimationError(
                f"influence values need one row per row of the design's data ({self._n}); got shape {Z.shape}"
            )
        if not np.isfinite(Z).all():
            raise EstimationError("influence values hold NaN or infinite entries: drop or fix those rows first")
        mask = self._domain_mask() if domain is None else (np.asarray(domain, dtype=bool) & (self._w != 0))
        dom = np.where(mask, 0, -1)
        return self._scheme().covariance(Z, dom)

    # ------------------------------------------------------------ replicates
    def to_replicates(
        self,
        method: str = "auto",
        replicates: int | None = None,
        seed: int | None = None,
        rho: float | None = None,
    ) -> ReplicateDesign:
        """Replicate-weight version of this design.

        Parameters
        ----------
        method : {"auto", "jk1", "jkn", "brr", "fay", "bootstrap"}, default "auto"
            "auto": JK1 for an unstratified design, JKn for a stratified one (R's
            ``as.svrepdesign`` default). JK1 (unstratified delete-one-PSU jackknife), JKn (stratified jackknife with
            per-stratum factors ``(n_h - 1)/n_h``), BRR (balanced half-samples from a
            Hadamard matrix; needs exactly 2 PSUs per stratum; ``rho`` gives Fay's method),
            bootstrap (Rao & Wu 1988 rescaling: ``n_h - 1`` PSUs drawn with replacement per
            stratum).
        replicates : int, optional
            Number of bootstrap replicates (default 200, at least 2). Ignored by jackknife and BRR.
        seed : int, optional
            Non-negative integer seed for the bootstrap.
        rho : float, optional
            Fay's coefficient in [0, 1) for "brr"/"fay" (R's ``fay.rho``).

        Returns
        -------
        ReplicateDesign
            Multipliers are kept at the PSU level (C × R); respondent-level replicate
            weights are never materialised.

        Raises
        ------
        DesignError
            JK1 on a stratified design, BRR with other than 2 PSUs per stratum, an unknown
            method, a ``seed`` or ``replicates`` that is not a whole number (``"a"``,
            2.5), or a lonely PSU under ``lonely_psu="fail"``.

        References
        ----------
        Wolter, K. M. (2007). *Introduction to Variance Estimation*, 2nd ed. Springer, ch. 3-5.
        Rao, J. N. K. & Wu, C. F. J. (1988). Resampling inference with complex survey data.
        *JASA* 83, 231-241.
        """
        return build_replicates(self, method=method, replicates=replicates, seed=seed, rho=rho)

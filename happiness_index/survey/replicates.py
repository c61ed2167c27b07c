"""Building replicate weights from a Taylor design: JK1, JKn, BRR (Fay) and bootstrap.

All replicate schemes here are kept as PSU-level *multipliers* ``A`` (C PSUs × R
replicates): the replicate weight of respondent i in replicate r is ``w_i · A[psu(i), r]``.
Respondent-level replicate weights (n × R) are never materialised; replicate totals
are a sparse (domain × PSU) matrix times ``A``.

Schemes (Wolter 2007; Lumley 2010, ch. 2.8; R ``survey``'s ``as.svrepdesign``)
--------------------------------------------------------------------------------
* **JK1** (unstratified): replicate r deletes PSU r and multiplies the others by
  ``n/(n-1)``; ``scale = f (n-1)/n`` with ``f = 1 - n/N`` under an fpc, else 1.
* **JKn** (stratified): one replicate per PSU; deleting PSU j of stratum h multiplies the
  other PSUs of h by ``n_h/(n_h-1)``; ``rscales_r = f_h (n_h-1)/n_h``; ``scale = 1``.
  Strata sampled completely (f_h = 0) give no replicates.
* **BRR** (2 PSUs per stratum): half-samples from the columns of a Sylvester Hadamard
  matrix; the chosen PSU gets ``2 - rho``, the other ``rho`` (Fay's method when
  ``rho > 0``); ``scale = 1/(R (1-rho)^2)``.
* **Bootstrap** (Rao & Wu 1988 rescaling): in every stratum ``n_h - 1`` PSUs are drawn
  with replacement; PSU multiplier = ``count · n_h/(n_h-1)``; ``scale = 1/(R-1)``.

References
----------
Rao, J. N. K. & Wu, C. F. J. (1988). Resampling inference with complex survey data. *JASA* 83, 231–241.
Wolter, K. M. (2007). *Introduction to Variance Estimation*, 2nd ed. Springer.
Fay, R. E. (1989). Theory and application of replicate weighting for variance calculations.
"""

from __future__ import annotations

import numpy as np

from ..errors import DesignError, LonelyPSUError, describe_rows

__all__ = ["build_replicates", "hadamard"]


def hadamard(order: int) -> np.ndarray:
    """Sylvester Hadamard matrix of the smallest power-of-two order >= ``order``.

    Parameters
    ----------
    order : int
        Minimum order (>= 1).

    Returns
    -------
    numpy.ndarray
        Square matrix of +1/-1 with orthogonal columns (H'H = m I).
    """
    m = 1
    H = np.array([[1]])
    while m < order:
        H = np.block([[H, H], [H, -H]])
        m *= 2
    return H


def _stage1(design):
    st = design._stages[0]
    return st, st.cluster, st.cluster_stratum, st.npsu, st.f


def _lonely_check(design, st, npsu, f):
    lonely = (npsu == 1) & (f >= 1e-7)
    if lonely.any() and design.lonely_psu == "fail":
        labs = [str(st.stratum_labels[h]) for h in np.flatnonzero(lonely)]
        raise LonelyPSUError(
            f"strata {describe_rows(labs)} have only one PSU, so replicate weights cannot be built. "
            "Choose lonely_psu='remove', 'certainty', 'average' or 'adjust' in SurveyDesign, or collapse strata."
        )
    return lonely


def _check_int(value, name: str, minimum: int) -> int:
    """An integer argument (int, numpy integer or an integral float), at least ``minimum``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer, float, np.floating)):
        raise DesignError(f"{name} must be a whole number, got {value!r} ({type(value).__name__})")
    if isinstance(value, (float, np.floating)) and not (np.isfinite(value) and float(value).is_integer()):
        raise DesignError(f"{name} must be a whole number, got {value!r}")
    v = int(value)
    if v < minimum:
        raise DesignError(f"{name} must be at least {minimum}, got {v}")
    return v


def build_replicates(design, method: str = "auto", replicates: int | None = None, seed: int | None = None, rho: float | None = None):
    """Replicate design from a :class:`~happiness_index.design.SurveyDesign`.

    See :meth:`SurveyDesign.to_replicates` for the parameters. ``method="auto"`` is
    JK1 for an unstratified design and JKn for a stratified one (R's
    ``as.svrepdesign`` default). Raises :class:`DesignError` when the scheme does not
    fit the design, or for a bad ``method``, ``replicates`` or ``seed``.
    """
    from .design import ReplicateDesign

    if not isinstance(method, str):
        raise DesignError(f"method must be a string ('auto', 'jk1', 'jkn', 'brr', 'fay', 'bootstrap'), got {method!r}")
    if seed is not None and not isinstance(seed, np.random.SeedSequence):
        seed = _check_int(seed, "seed", 0)
    if replicates is not None:
        replicates = _check_int(replicates, "replicates", 2)
    if rho is not None and (isinstance(rho, (bool, np.bool_)) or not isinstance(rho, (int, float, np.integer, np.floating))):
        raise DesignError(f"Fay's rho must be a number in [0, 1), got {rho!r}")

    if design._domain is not None:
        raise DesignError("build replicate weights from the full design, then take subsets of the replicate design")
    if design._adjusters:
        raise DesignError(
            "this design is calibrated; build replicates from the uncalibrated design and calibrate the "
            "replicate design (each replicate is then recalibrated)"
        )
    method = method.lower()
    st, cluster, cl_stratum, npsu, f = _stage1(design)
    C, H = st.n_clusters, st.n_strata
    has_strata = design.strata_column is not None and H > 1
    if method == "auto":
        method = "jkn" if has_strata else "jk1"
    if method == "jk1":
        if has_strata:
            raise DesignError("JK1 is for unstratified designs; use method='jkn' for a stratified design")
        n = C
        if n < 2:
            raise DesignError("JK1 needs at least 2 PSUs")
        A = np.full((C, C), n / (n - 1))
        np.fill_diagonal(A, 0.0)
        scale = float(f[0]) * (n - 1) / n
        return ReplicateDesign._from_multipliers(design, A, cluster, "jk1", scale, np.ones(C))
    if method == "jkn":
        lonely = _lonely_check(design, st, npsu, f)
        keep_cl = np.ones(C, dtype=bool)
        cl_h = cl_stratum
        selfrep = f[cl_h] < 1e-7
        keep_cl &= ~selfrep
        rule = design.lonely_psu
        adjust_cols = []
        if lonely.any():
            keep_cl &= ~lonely[cl_h]
            if rule == "adjust":
                adjust_cols = list(np.flatnonzero(lonely))
        reps = np.flatnonzero(keep_cl)  # one replicate per kept PSU
        R = len(reps) + len(adjust_cols)
        if R == 0:
            raise DesignError("every stratum was sampled completely or has a single PSU: there is nothing to replicate")
        if adjust_cols and H < 2:
            raise DesignError(
                "the design has a single stratum with a single PSU: JKn replicates cannot be built "
                "(lonely_psu='adjust' needs other strata to centre on); sample at least 2 PSUs"
            )
        A = np.ones((C, R))
        h_of_rep = cl_h[reps]
        nh = npsu[h_of_rep]
        same = cl_h[:, None] == h_of_rep[None, :]
        A[:, : len(reps)] = np.where(same, nh / (nh - 1), 1.0)
        A[reps, np.arange(len(reps))] = 0.0
        rscales = np.empty(R)
        rscales[: len(reps)] = f[h_of_rep] * (nh - 1) / nh
        for j, h in enumerate(adjust_cols):
            col = len(reps) + j
            A[:, col] = np.where(cl_h == h, 0.0, H / (H - 1))
            rscales[col] = (H - 1) / H
        scale = 1.0
        if rule == "average" and lonely.any():
            scale = C / R
        return ReplicateDesign._from_multipliers(design, A, cluster, "jkn", scale, rscales)
    if method in ("brr", "fay"):
        rho = 0.0 if rho is None else float(rho)
        if method == "fay" and rho == 0.0:
            raise DesignError("method='fay' needs rho in (0, 1), e.g. rho=0.3")
        if not 0 <= rho < 1:
            raise DesignError(f"Fay's rho must be in [0, 1), got {rho}")
        if not np.all(npsu == 2):
            bad = [str(st.stratum_labels[h]) for h in np.flatnonzero(npsu != 2)]
            raise DesignError(
                f"BRR needs exactly 2 PSUs in every stratum; strata {describe_rows(bad)} have "
                f"{sorted(set(npsu[npsu != 2].astype(int).tolist()))} PSUs. Use jkn or bootstrap."
            )
        Hm = hadamard(H + 1)
        R = Hm.shape[0]
        signs = Hm[:, 1 : H + 1]  # (R, H): skip the all-ones column
        # first and second PSU in each stratum (order of appearance)
        order = np.argsort(cl_stratum, kind="stable")
        is_first = np.zeros(C, dtype=bool)
        hs = cl_stratum[order]
        is_first[order[np.r_[True, hs[1:] != hs[:-1]]]] = True
        sgn = signs[:, cl_stratum].T  # (C, R)
        chosen = np.where(is_first[:, None], sgn > 0, sgn < 0)
        A = np.where(chosen, 2.0 - rho, rho)
        scale = 1.0 / (R * (1 - rho) ** 2)
        return ReplicateDesign._from_multipliers(design, A, cluster, "fay" if rho > 0 else "brr", scale, np.ones(R), rho=rho)
    if method == "bootstrap":
        R = 200 if replicates is None else replicates
        _lonely_check(design, st, npsu, f)
        rng = np.random.default_rng(seed)
        A = np.zeros((C, R))
        for h in range(H):  # loop over strata (few), never over respondents or replicates
            members = np.flatnonzero(cl_stratum == h)
            nh = len(members)
            if nh < 2:
                A[members, :] = 1.0  # lonely stratum under a non-fail rule: no contribution
                continue
            counts = rng.multinomial(nh - 1, np.full(nh, 1.0 / nh), size=R)  # (R, nh)
            A[members, :] = counts.T * (nh / (nh - 1))
        return ReplicateDesign._from_multipliers(design, A, cluster, "bootstrap", 1.0 / (R - 1), np.ones(R))
    raise DesignError(f"method={method!r} is not a replicate scheme; use 'auto', 'jk1', 'jkn', 'brr', 'fay' or 'bootstrap'")

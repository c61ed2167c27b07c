"""Model frames for design-based regression: formula -> response, model matrix, rows used.

Shared by :mod:`~happiness_index.survey.regression` (``svyglm``),
:mod:`~happiness_index.survey.ordinal` (``svyolr``) and the drivers analysis. Two pieces:

* :func:`build_model_frame` reads an R-style formula with `formulaic
  <https://matthewwardrop.github.io/formulaic/>`_ (``C(x)`` treatment coding with the first
  level as reference, interactions ``a:b`` and ``a*b``, R's column order: intercept, main
  effects, then interactions), drops rows with a missing model variable (R's ``na.omit``)
  and refuses models that cannot be estimated (a term with one level, aliased columns),
  naming the term and the fix;
* :class:`ModelDesign` is the bridge to the variance engine through its public hooks only:
  ``design.influence_vcov(Z, domain=rows)`` for Taylor linearization (strata, PSUs, fpc,
  lonely-PSU rules and calibration as the design declares them) and
  ``design.replicate_weights()`` / ``design.replicate_vcov(reps, est)`` for replicate designs.

Rows left out of a fit (outside ``subset`` or with a missing model variable) stay in the
design as out-of-domain rows: their PSUs and strata keep counting in the variance, as R's
``svyglm`` does after ``na.omit`` on a ``survey.design2`` (domain estimation).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import linalg

from ..errors import HappinessIndexWarning, ModelError, describe_rows

__all__ = [
    "MissingValuesWarning",
    "ModelDesign",
    "ModelFrame",
    "build_model_frame",
    "counterfactual_matrix",
    "design_header",
]


class MissingValuesWarning(HappinessIndexWarning):
    """Rows with a missing model variable were left out of a model fit (kept in the design)."""


@dataclass
class ModelFrame:
    """What a formula selects from a design's data.

    Attributes
    ----------
    formula : str
        The formula as given.
    response_name : str
        The left-hand side as written.
    response : pandas.Series
        The response on the rows used (raw values: numbers, booleans or categories).
    X : numpy.ndarray, shape (n_fit, p)
        The model matrix on the rows used.
    columns : list of str
        Model-matrix column names (``Intercept`` first when there is one).
    terms : dict of str -> list of int
        Each formula term (``"C(stype)"``, ``"ell:C(stype)"``) and its column positions.
    rows : numpy.ndarray of bool, shape (n,)
        Rows of ``design.data`` used in the fit.
    n_missing : int
        Rows of the domain left out because a model variable is missing.
    n_missing_all : int
        Rows of the whole data (in the domain or not) missing a model variable.
    missing_by_variable : dict of str -> int
        How many domain rows miss each variable.
    spec : formulaic ModelSpec
        Rebuilds the right-hand side on other data (counterfactual predictions).
    variables : list of str
        Data columns the right-hand side uses.
    """

    formula: str
    response_name: str
    response: pd.Series
    X: np.ndarray
    columns: list
    terms: dict
    rows: np.ndarray
    n_missing: int
    missing_by_variable: dict
    spec: object = field(repr=False)
    variables: list = field(default_factory=list)
    intercept_dropped: bool = False
    n_missing_all: int = 0
    source: pd.DataFrame | None = field(default=None, repr=False)

    def model_matrix(self, data: pd.DataFrame) -> np.ndarray:
        """The right-hand side's model matrix on other rows (same coding, same columns)."""
        mm = self.spec.get_model_matrix(data)
        if self.intercept_dropped and "Intercept" in mm.columns:
            mm = mm.drop(columns="Intercept")
        M = np.asarray(mm, dtype=float)
        if M.shape[1] != len(self.columns):
            raise ModelError(
                f"the model matrix on new data has {M.shape[1]} columns, the fit {len(self.columns)}: "
                "a categorical variable took a level the fit did not see"
            )
        return M


def _term_variables(term: str, variables: list) -> set:
    return {v for v in variables if re.search(r"(?<![\w.])" + re.escape(v) + r"(?![\w.])", term)}


def counterfactual_matrix(frame: ModelFrame, data: pd.DataFrame, variable: str, values) -> np.ndarray:
    """The model matrix of the fit rows with ``variable`` replaced by ``values`` (scalar or per row).

    Only the columns of terms that involve ``variable`` change; they are built by formulaic
    on the distinct combinations of the variables of those terms (a handful of rows for
    categorical and 0/1 variables), so a counterfactual costs a copy, not a new model matrix.
    """
    cols, involved = [], set()
    for term, ix in frame.terms.items():
        tv = _term_variables(term, frame.variables)
        if variable in tv:
            cols += list(ix)
            involved |= tv
    X = frame.X.copy()
    if not cols:
        return X
    sub = data[sorted(involved)].copy()
    if isinstance(sub[variable].dtype, pd.CategoricalDtype) and np.ndim(values) == 0:
        sub[variable] = pd.Categorical([values] * len(sub), categories=sub[variable].cat.categories)
    else:
        sub[variable] = values
    codes, uniq = pd.MultiIndex.from_frame(sub).factorize()
    first = data.iloc[[0] * len(uniq)].reset_index(drop=True)
    combos = uniq.to_frame(index=False)
    combos.columns = list(sub.columns)
    for c in combos.columns:
        first[c] = (
            combos[c].to_numpy()
            if not isinstance(sub[c].dtype, pd.CategoricalDtype)
            else pd.Categorical(combos[c], categories=sub[c].cat.categories)
        )
    M = frame.model_matrix(first)
    X[:, cols] = M[codes][:, cols]
    return X


def _split_formula(formula: str) -> tuple[str, str]:
    if not isinstance(formula, str) or formula.count("~") != 1:
        raise ModelError(
            f"formula {formula!r} must be a string with one '~', response on the left, e.g. 'happy ~ income + C(sex)'"
        )
    lhs, rhs = (s.strip() for s in formula.split("~"))
    if not lhs:
        raise ModelError(f"formula {formula!r} has no response on the left of '~'")
    if not rhs:
        raise ModelError(f"formula {formula!r} has no terms on the right of '~' (use '~ 1' for an intercept only)")
    return lhs, rhs


def _subset_mask(subset, data: pd.DataFrame) -> np.ndarray:
    if subset is None:
        return np.ones(len(data), dtype=bool)
    if isinstance(subset, pd.Series):
        if not subset.index.equals(data.index):
            raise ModelError(
                "subset= must be aligned with the design's data rows (same index); pass a boolean array in row order otherwise"
            )
        if subset.isna().any():
            raise ModelError(
                f"subset= has missing values at rows {describe_rows(data.index[subset.isna().to_numpy()])}"
            )
        subset = subset.to_numpy()
    m = np.asarray(subset)
    if m.shape != (len(data),):
        raise ModelError(f"subset= has shape {m.shape}; it needs one True/False per data row ({len(data)})")
    if m.dtype != bool:
        if not np.isin(m, [0, 1]).all():
            raise ModelError(
                "subset= must hold True/False (or 0/1); build it with a comparison, e.g. data['commune'] == 'Nghĩa Lộ'"
            )
        m = m.astype(bool)
    return m


def _missing_rows(data: pd.DataFrame, variables: list, domain: np.ndarray) -> tuple[np.ndarray, dict]:
    """Rows with a missing value in any variable, and counts per variable (inside the domain)."""
    miss = np.zeros(len(data), dtype=bool)
    counts = {}
    for v in variables:
        s = data[v]
        m = s.isna().to_numpy()
        if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
            a = s.to_numpy(dtype="float64", na_value=np.nan)
            inf = np.isinf(a) & domain
            if inf.any():
                raise ModelError(
                    f"column {v!r} holds infinite values at rows {describe_rows(data.index[inf])}; fix or remove them"
                )
        miss |= m
        if (m & domain).any():
            counts[v] = int((m & domain).sum())
    return miss, counts


def _categorical_variables(rhs: str, data: pd.DataFrame, variables: list) -> list:
    out = []
    for v in variables:
        s = data[v]
        wrapped = re.search(r"C\(\s*" + re.escape(v) + r"\s*[,)]", rhs) is not None
        if wrapped or not (pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype)):
            out.append(v)
    return out


def _check_levels(rhs: str, data: pd.DataFrame, variables: list, rows: np.ndarray) -> None:
    for v in _categorical_variables(rhs, data, variables):
        vals = pd.unique(data.loc[rows, v])
        if len(vals) < 2:
            raise ModelError(
                f"the term with {v!r} has a single level ({vals[0]!r}) among the {int(rows.sum())} respondents in the "
                f"fit: it cannot be estimated. Drop {v!r} from the formula, or fit on a domain where it varies"
            )


def _check_rank(X: np.ndarray, columns: list) -> None:
    if X.shape[0] < X.shape[1]:
        raise ModelError(
            f"the model has {X.shape[1]} columns but only {X.shape[0]} respondents: drop terms or merge categories"
        )
    zero = [c for c, j in zip(columns, range(X.shape[1])) if not np.any(X[:, j])]
    if zero:
        raise ModelError(
            f"model-matrix column(s) {zero} are zero for every respondent in the fit (a category nobody in the fit "
            "has): merge or drop that category (e.g. data[col].cat.remove_unused_categories())"
        )
    # rank from the scaled Gram matrix (p x p; cheap at n = 1M): pivoted QR of its Cholesky-like
    # square root has the singular values of the scaled X on its diagonal
    G = X.T @ X
    scale = np.sqrt(np.diag(G))
    Gs = G / np.outer(scale, scale)
    evals, evecs = np.linalg.eigh(Gs)
    root = evecs * np.sqrt(np.clip(evals, 0, None))
    _, R, piv = linalg.qr(root.T, pivoting=True)
    d = np.abs(np.diag(R))
    rank = int((d > 1e-7 * d[0]).sum())
    if rank < X.shape[1]:
        aliased = [columns[j] for j in piv[rank:]]
        raise ModelError(
            f"the model matrix is rank deficient: column(s) {aliased} are linear combinations of the others "
            "(collinear terms). Drop one of the collinear terms from the formula"
        )


def build_model_frame(formula: str, design, subset=None, *, drop_intercept: bool = False, data=None) -> ModelFrame:
    """Response, model matrix and rows used for a formula on a design.

    Parameters
    ----------
    formula : str
        R-style formula, e.g. ``"api00 ~ ell + meals + C(stype)"``; ``C(x)`` marks a
        categorical term (treatment coding, first level of the sorted values or of a
        pandas Categorical's categories as reference). Text columns are categorical even
        without ``C()``.
    design : SurveyDesign or ReplicateDesign
        Its data, domain (a ``subset`` design) and weights are used.
    subset : boolean array or Series, optional
        Fit on this domain only (R's ``svyglm(subset=)``); other rows stay in the design.
    drop_intercept : bool, default False
        Remove the ``Intercept`` column after coding (proportional-odds models: the
        cut-points take its place, while ``C(x)`` keeps treatment coding).
    data : pandas.DataFrame, optional
        Take the model variables from this frame instead of ``design.data`` (derived
        variables on a design that cannot be rebuilt, e.g. a calibrated one). It must have
        the design's rows in the same order (same index).

    Returns
    -------
    ModelFrame

    Raises
    ------
    ModelError
        Unknown columns, a malformed formula, no respondent left, a term with one level,
        a category nobody in the fit has, collinear columns.

    Warns
    -----
    MissingValuesWarning
        Rows of the domain with a missing model variable are left out of the fit (R's
        ``na.omit``); the warning says how many per variable. They stay in the design.

    Notes
    -----
    The formula is evaluated as Python code by formulaic: never build it from untrusted
    text (e.g. column names read from a data file); map such names to generated ones first.
    """
    from formulaic import Formula, model_matrix

    lhs, rhs = _split_formula(formula)
    if data is None:
        data = design.data
    elif len(data) != len(design.data) or not data.index.equals(design.data.index):
        raise ModelError("data= must hold the design's rows in the same order (same length and index as design.data)")
    try:
        parsed = Formula(formula)
        variables = sorted(parsed.required_variables)
        rhs_vars = sorted(Formula("~ " + rhs).required_variables)
    except Exception as exc:  # noqa: BLE001 - formulaic raises many parse error types
        raise ModelError(f"cannot read the formula {formula!r}: {exc}") from None
    unknown = [v for v in variables if v not in data.columns]
    if unknown:
        hint = ""
        dotted = [c for c in data.columns if isinstance(c, str) and "." in c]
        if dotted:
            hint = f" Columns with dots ({dotted[:3]}) must be renamed (e.g. avg.ed -> avg_ed) to be used in formulas."
        raise ModelError(f"formula {formula!r} uses column(s) {unknown} that are not in the data.{hint}")
    domain = np.asarray(design.in_domain, dtype=bool) & _subset_mask(subset, data)
    if not domain.any():
        raise ModelError("no respondent is in the domain of the fit (subset= selects nobody with a non-zero weight)")
    miss, counts = _missing_rows(data, variables, domain)
    rows = domain & ~miss
    n_missing = int((domain & miss).sum())
    if n_missing:
        per = ", ".join(f"{v!r}: {k}" for v, k in counts.items())
        warnings.warn(
            f"{n_missing} of {int(domain.sum())} respondents have a missing model variable ({per}) and are left out "
            "of the fit; they stay in the design as out-of-domain rows (R's na.omit on a survey design). Impute "
            "them first if they should count.",
            MissingValuesWarning,
            stacklevel=3,
        )
    if not rows.any():
        raise ModelError(f"every respondent of the domain misses a model variable ({counts}); nothing to fit")
    _check_levels(rhs, data, rhs_vars, rows)
    sub = data.loc[rows]
    try:
        mm = model_matrix("~ " + rhs, sub)
        lhs_values = sub[lhs] if lhs in data.columns else model_matrix(lhs + " ~ 1", sub).lhs.iloc[:, 0]
    except ModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - formulaic/pandas evaluation errors of any type
        raise ModelError(f"cannot build the model matrix of {formula!r}: {exc}") from None
    columns = [str(c) for c in mm.columns]
    X = np.asarray(mm, dtype=float)
    terms = {str(t): list(ix) for t, ix in mm.model_spec.term_indices.items()}
    if drop_intercept and "Intercept" in columns:
        j = columns.index("Intercept")
        X = np.delete(X, j, axis=1)
        columns.pop(j)
        terms = {t: [i - (i > j) for i in ix if i != j] for t, ix in terms.items() if t != "1"}
    if X.shape[1]:
        _check_rank(X, columns)
    return ModelFrame(
        formula=formula,
        response_name=lhs,
        response=pd.Series(
            lhs_values.to_numpy() if not isinstance(lhs_values.dtype, pd.CategoricalDtype) else lhs_values.array,
            index=sub.index,
            name=lhs,
        ),
        X=X,
        columns=columns,
        terms=terms,
        rows=rows,
        n_missing=n_missing,
        missing_by_variable=counts,
        spec=mm.model_spec,
        variables=rhs_vars,
        source=data,
        intercept_dropped=bool(drop_intercept),
        n_missing_all=int(miss.sum()),
    )


class ModelDesign:
    """The variance engine of a design, seen from a model fitted on some of its rows.

    Parameters
    ----------
    design : SurveyDesign or ReplicateDesign
    rows : numpy.ndarray of bool, shape (n,)
        Rows used in the fit.
    subset : boolean array, optional
        The domain requested by the caller (before dropping missing values); fixes the
        degrees of freedom of a replicate design.

    Attributes
    ----------
    kind : {"taylor", "replicate"}
    w : numpy.ndarray, shape (n_fit,)
        Sampling weights of the rows used.
    df : float
        Design degrees of freedom of the fit: Taylor, PSUs with rows in the fit minus their
        strata (R's ``degf`` of the design after ``na.omit``); replicate, the rank of the
        replicate weights minus 1 of the design (or of the ``subset`` domain).
    """

    def __init__(self, design, rows: np.ndarray, subset=None):
        self.design = design
        self.rows = np.asarray(rows, dtype=bool)
        self.kind = "replicate" if hasattr(design, "replicate_weights") else "taylor"
        self.w = design.weights.to_numpy(dtype=float)[self.rows]
        if self.kind == "taylor":
            self.df = float(design.subset(self.rows).df)
        else:
            self.df = float(design.subset(subset).df) if subset is not None else float(design.df)
        self._W = None

    @property
    def replicate_weights(self) -> np.ndarray:
        """(n_fit × R) replicate weights of the rows used (replicate designs)."""
        if self._W is None:
            W = np.asarray(self.design.replicate_weights(), dtype=float)
            self._W = W if self.rows.all() else W[self.rows]
        return self._W

    def influence_vcov(self, Z: np.ndarray) -> np.ndarray:
        """Taylor covariance of weighted influence values given on the rows used (n_fit × q)."""
        Z = np.asarray(Z, dtype=float)
        Z = Z[:, None] if Z.ndim == 1 else Z
        if self.rows.all():
            return np.asarray(self.design.influence_vcov(Z, domain=self.rows))
        full = np.zeros((len(self.rows), Z.shape[1]))
        full[self.rows] = Z
        return np.asarray(self.design.influence_vcov(full, domain=self.rows))

    def replicate_vcov(self, reps: np.ndarray, estimate: np.ndarray) -> np.ndarray:
        """Replicate covariance of replicate estimates (R × q) around the full-sample estimate."""
        return np.asarray(self.design.replicate_vcov(reps, estimate))


def design_header(design, rows: np.ndarray, df: float) -> str:
    """One-paragraph description of a design for printed model summaries (Stata's svy header)."""
    n_fit = int(np.asarray(rows).sum())
    pop = float(design.weights.to_numpy(dtype=float)[rows].sum())
    if hasattr(design, "replicate_weights"):
        method = getattr(design, "method", "replicate")
        R = getattr(design, "n_replicates", None)
        return (
            f"Design: replicate weights ({method}, {R} replicates)\n"
            f"Respondents = {n_fit:,}   Population size = {pop:,.6g}   Design df = {df:g}"
        )
    data = design.data
    strata_col = getattr(design, "strata_column", None)
    psu_cols = list(getattr(design, "psu_columns", []) or [])
    n_strata = int(data[strata_col].nunique()) if strata_col else 1
    if psu_cols:
        key = [strata_col, psu_cols[0]] if (strata_col and getattr(design, "nest", False)) else [psu_cols[0]]
        n_psu = int(data[key].drop_duplicates().shape[0])
    else:
        n_psu = len(data)
    return (
        f"Design: Taylor linearization; strata = {n_strata}, PSUs = {n_psu:,}\n"
        f"Respondents = {n_fit:,}   Population size = {pop:,.6g}   Design df = {df:g}"
    )

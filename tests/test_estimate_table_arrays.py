"""Array-backed estimate tables (``EstimateTable.from_arrays``, used by every design estimator).

The design estimators keep a table's rows as numpy columns and build an ``Estimate`` only
for the rows asked for. These tests pin that such a table behaves exactly as the same table
built from a list of ``Estimate`` objects, that the rows' intervals are the ones their own
``confint`` gives (Wald and proportion methods), and that label look-ups stay exact on a
table of thousands of rows.
"""

import math
import warnings

import numpy as np
import pandas as pd
import pytest

import happiness_index as hi
from happiness_index.errors import DomainDfWarning, EstimationError
from happiness_index.survey.estimators import proportion_interval, t_quantile, wald_limits


@pytest.fixture(scope="module")
def apistrat():
    data = hi.load_api("apistrat")
    return data, hi.SurveyDesign(data, weights="pw", strata="stype", fpc="fpc")


def object_copy(tab: hi.EstimateTable) -> hi.EstimateTable:
    """The same table through the list-of-Estimate constructor (the object path)."""
    return hi.EstimateTable(
        list(tab.estimates),
        tab.keys.copy(),
        list(tab.labels),
        tab.vcov_matrix().copy(),
        tab.df,
        level=tab.level,
        variance_method=tab.variance_method,
        function_method=tab.function_method,
    )


def fields(e: hi.Estimate) -> dict:
    out = e.to_dict()
    out["confint90"] = e.confint(0.9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DomainDfWarning)
        out["confint_normal"] = e.confint(0.95, df=math.inf)
    return out


def assert_same_dict(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        x, y = a[k], b[k]
        if isinstance(x, tuple):
            np.testing.assert_array_equal(np.asarray(x, float), np.asarray(y, float), err_msg=k)
        elif isinstance(x, float) and math.isnan(x):
            assert isinstance(y, float) and math.isnan(y), k
        else:
            assert x == y and type(x) is type(y), (k, x, y)


@pytest.mark.parametrize(
    "call",
    [
        lambda d: d.by("stype").mean(["api00", "api99"], deff=True, level=0.9),
        lambda d: d.by(["stype", "sch.wide"]).total("enroll"),
        lambda d: d.by("stype").proportion("sch.wide", ci_method="beta"),
        lambda d: d.by("awards").proportion("stype", ci_method="likelihood"),
        lambda d: d.mean("stype"),
    ],
    ids=["mean-deff", "total-2keys", "prop-beta", "prop-likelihood", "factor-mean"],
)
def test_array_table_equals_object_table(apistrat, call):
    _, des = apistrat
    tab = call(des)
    assert tab._rows is not None  # built by from_arrays
    obj = object_copy(tab)
    assert tab.labels == obj.labels and len(tab) == len(obj)
    pd.testing.assert_frame_equal(tab.to_frame(), obj.to_frame(), check_exact=True)
    np.testing.assert_array_equal(tab.estimate, obj.estimate)
    np.testing.assert_array_equal(tab.se, obj.se)
    for a, b in zip(tab, obj):
        assert_same_dict(fields(a), fields(b))
    pair = {tab.labels[0]: 1.0, tab.labels[-1]: -1.0}
    assert_same_dict(fields(tab.contrast(pair)), fields(obj.contrast(pair)))
    expr = f"`{tab.labels[0]}` * 2 + `{tab.labels[1]}`"
    assert_same_dict(fields(tab.transform(expr)), fields(obj.transform(expr)))
    assert repr(tab) == repr(obj)


def test_rows_carry_their_own_intervals(apistrat):
    data, des = apistrat
    tab = des.by("stype").mean(["api00", "api99"], level=0.9)
    for e in tab:
        q = t_quantile(0.9, e.df)
        assert (e.ci_low, e.ci_high) == (e.estimate - q * e.se, e.estimate + q * e.se)
        assert e._interval is None and e.ci_method == "wald" and e.statistic == "mean"
    props = des.by("stype").proportion("sch.wide", ci_method="wilson")
    rows = data["stype"].value_counts()
    for e, stype in zip(props, props.keys["stype"]):
        expected = proportion_interval(e.estimate, e.se, e.df, 0.8, "wilson", n=int(rows[stype]))
        assert e.confint(0.8) == expected  # the row keeps its interval function
        assert (e.ci_low, e.ci_high) == proportion_interval(e.estimate, e.se, e.df, 0.95, "wilson", n=e.n)


def test_rows_are_built_once_and_shared(apistrat):
    _, des = apistrat
    tab = des.by("stype").mean(["api00", "api99"])
    first = tab["H:api00"]
    assert tab.labels[2] == "H:api00"
    assert tab[2] is first and tab[-4] is first and tab[np.int64(2)] is first
    assert tab.estimates[2] is first and list(tab)[2] is first
    with pytest.raises(IndexError):
        tab[len(tab)]
    with pytest.raises(KeyError, match="not a row of this table"):
        tab["M:api01"]


def test_thousands_of_rows_look_up_by_label():
    rng = np.random.default_rng(7)
    n, n_psu = 12_000, 3_000
    psu = np.repeat(np.arange(n_psu), n // n_psu)
    data = pd.DataFrame(
        {
            "psu": psu,
            "stratum": psu // 10,
            "w": rng.uniform(1, 5, n),
            "x": rng.normal(size=n),
            "y": rng.uniform(size=n),
        }
    )
    des = hi.SurveyDesign(data, weights="w", strata="stratum", psu="psu")
    with pytest.warns(DomainDfWarning) as caught:
        tab = des.by("psu").mean(["x", "y"])
    assert len(caught) == 1  # one warning counting the 6,000 rows without df, not 6,000
    assert len(tab) == 2 * n_psu and tab.labels[:3] == ["0:x", "0:y", "1:x"]
    frame = tab.to_frame()
    order = rng.permutation(len(tab))
    for i in order[:2_000]:
        label = tab.labels[i]
        row = tab[label]
        assert row.name == label and row is tab[int(i)]
        assert row.estimate == frame["estimate"].iloc[i] and row.n == frame["n"].iloc[i]
        assert str(frame["psu"].iloc[i]) + ":" + frame["variable"].iloc[i] == label
    assert len(tab.estimates) == len(tab)


def test_from_arrays_checks_its_columns():
    keys = pd.DataFrame({"g": ["a", "b", "a"]})
    cols = dict(estimate=np.zeros(3), se=np.ones(3), ci_low=np.zeros(3), ci_high=np.ones(3), row_df=np.ones(3))
    with pytest.raises(EstimationError, match=r"duplicate row labels.*\['a'\]"):
        hi.EstimateTable.from_arrays(keys=keys, labels=["a", "b", "a"], vcov=np.eye(3), df=1.0, **cols)
    with pytest.raises(EstimationError, match="needs 3 values per column"):
        hi.EstimateTable.from_arrays(
            keys=keys, labels=["a", "b", "c"], vcov=np.eye(3), df=1.0, **dict(cols, se=np.ones(2))
        )


def test_wald_limits_match_t_quantile_per_row():
    est = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    se = np.array([0.1, 0.2, 0.3, 0.4, 0.5])
    df = np.array([3.0, math.inf, 0.0, np.nan, 3.0])
    low, high = wald_limits(est, se, df, 0.9)
    for i in range(5):
        q = t_quantile(0.9, float(df[i]))
        np.testing.assert_array_equal([low[i], high[i]], [est[i] - q * se[i], est[i] + q * se[i]])
    with pytest.raises(EstimationError, match="level must be in"):
        wald_limits(est, se, df, 1.5)

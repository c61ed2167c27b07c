"""Quantile rules and quantile-interval edge cases (happiness_index.survey.quantiles).

The R reference numbers for the survey designs are in test_reference_estimation.py;
here are the rules on a hand-checkable sample and the refusals.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

import happiness_index as hi
from happiness_index.errors import EstimationError
from happiness_index.survey.quantiles import weighted_quantile

# sorted x: 1 (w 2), 1 (w 1), 2, 3, 4, 5 (w 2), 6, 9; cumulative weights 2 3 4 5 6 8 9 10
X = [3, 1, 4, 1, 5, 9, 2, 6]
W = [1, 2, 1, 1, 2, 1, 1, 1]
P = [0.1, 0.25, 0.5, 0.75, 0.9, 1.0]
# R: f <- survey:::qrule_<rule>; sapply(c(.1,.25,.5,.75,.9,1), function(p) f(x, w, p))
R_RULES = {
    "math": [1, 1, 3, 5, 6, 9],
    "school": [1, 1, 3.5, 5, 7.5, 9],
    "hf7": [1, 1.25, 3.5, 5.375, 6.3, 9],
}


@pytest.mark.parametrize("rule", sorted(R_RULES))
def test_rules_match_r_on_a_hand_example(rule):
    assert list(weighted_quantile(X, W, P, rule)) == pytest.approx(R_RULES[rule], abs=1e-12)


def test_math_rule_exact_cdf_hit_and_zero_weights():
    # p = 0.5 hits the cumulative weight 5 exactly: math gives x_pos = 3, school the mid-point
    assert weighted_quantile(X, W, 0.5, "math")[0] == 3
    assert weighted_quantile(X, W, 0.5, "school")[0] == 3.5
    # zero weights are ignored, not counted
    assert weighted_quantile(X + [100], W + [0], 1.0, "math")[0] == 9
    # scaling the weights by a power of two (exact in floating point) changes nothing; other
    # factors can flip the exact comparison C_pos == pW at a tie, in R as here
    assert list(weighted_quantile(X, np.array(W) * 4.0, P, "math")) == R_RULES["math"]


def _design():
    rng = np.random.default_rng(5)
    n = 120
    data = pd.DataFrame(
        {
            "h": np.repeat(["a", "b", "c"], n // 3),
            "psu": np.repeat(np.arange(24), n // 24),
            "w": rng.uniform(1, 3, n),
            "y": rng.normal(50, 10, n).round(1),
        }
    )
    return hi.SurveyDesign(data, weights="w", strata="h", psu="psu"), data


def test_se_is_interval_width_over_two_t_and_confint_recomputes():
    d, _ = _design()
    q = d.quantile("y", 0.5)
    t = hi.survey.estimators.t_quantile(0.95, d.df)
    assert q.se == pytest.approx((q.ci_high - q.ci_low) / (2 * t))
    lo90, hi90 = q.confint(0.9)
    assert q.ci_low <= lo90 <= hi90 <= q.ci_high
    # the estimate is an observed value under the default rule
    assert q.estimate in set(d.data["y"])


def test_domains_and_several_probabilities():
    d, data = _design()
    tab = d.by("h").quantile("y", [0.25, 0.75])
    assert len(tab) == 6 and list(tab.keys.columns) == ["h", "p"]
    sub = d.subset(data["h"] == "b").quantile("y", 0.75)
    assert tab["b:0.75"].estimate == sub.estimate
    assert tab["b:0.75"].ci_low == pytest.approx(sub.ci_low)
    assert tab["b:0.75"].df == sub.df == 7  # 8 PSUs in stratum b minus 1


def test_replicate_quantile_interval_and_contrast():
    d, _ = _design()
    rep = d.to_replicates("jkn")
    tab = rep.quantile("y", [0.25, 0.75], interval_type="quantile")
    iqr = tab.contrast({"0.75": 1, "0.25": -1})
    assert iqr.estimate == pytest.approx(tab["0.75"].estimate - tab["0.25"].estimate)
    assert iqr.se > 0 and math.isfinite(iqr.se)


def test_refusals():
    d, _ = _design()
    with pytest.raises(EstimationError, match="rule"):
        d.quantile("y", 0.5, rule="hf5")
    with pytest.raises(EstimationError, match=r"\[0, 1\]"):
        d.quantile("y", 1.5)
    with pytest.raises(EstimationError, match="replicate"):
        d.quantile("y", 0.5, interval_type="quantile")
    with pytest.raises(EstimationError, match="Taylor"):
        d.to_replicates("jkn").quantile("y", 0.5, ci_method="score")
    with pytest.raises(EstimationError, match="interval_type"):
        d.quantile("y", 0.5, interval_type="wald")
    with pytest.raises(EstimationError, match="one column"):
        d.quantile(["y", "w"], 0.5)


def test_missing_values_need_na_rm_and_reduce_df_as_r():
    d, data = _design()
    data2 = data.copy()
    data2.loc[data2["psu"] == 0, "y"] = np.nan  # a whole PSU missing
    d2 = hi.SurveyDesign(data2, weights="w", strata="h", psu="psu")
    with pytest.raises(EstimationError, match="missing"):
        d2.quantile("y", 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q = d2.quantile("y", 0.5, na_rm=True)
    assert q.df == d.df - 1  # svyquantile: degf of the design without the missing rows
    assert data2["y"].isna().sum() == 5  # input untouched


def test_replicate_hf7_matches_per_column_rule():
    """hf7 for all replicate columns at once equals weighted_quantile on each column (bit for bit),
    with zero weights, ties, one or no weighted row, and p at 0, 1 and the plotting positions."""
    from happiness_index.survey.quantiles import _rep_rule

    rng = np.random.default_rng(7)
    for _ in range(400):
        n, R = int(rng.integers(1, 12)), int(rng.integers(1, 6))
        xs = np.sort(rng.normal(size=n).round(int(rng.integers(0, 3))))
        Wr = rng.integers(0, 4, (n, R)) * rng.choice([1.0, 0.37, 2.9], size=(n, R))
        p = float(rng.choice([0.0, 1.0, 0.5, 0.25, rng.random()]))
        want = np.array(
            [weighted_quantile(xs, Wr[:, r], p, rule="hf7")[0] if (Wr[:, r] > 0).any() else np.nan for r in range(R)]
        )
        assert np.array_equal(_rep_rule(xs, Wr, p, "hf7"), want, equal_nan=True)
    # hand-worked: x = 1, 2, 3 with weights 1, 1, 2 -> positions 0, 1/2, 1; p = 0.75 -> 2.5
    assert _rep_rule(np.array([1.0, 2.0, 3.0]), np.array([[1.0], [1.0], [2.0]]), 0.75, "hf7").tolist() == [2.5]

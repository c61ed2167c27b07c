"""Memory-lean paths give the numbers of the direct computation.

Weighted moments accumulated in row blocks (``WeightedMoments``), reliability from those
moments, item indicator masks and the clean copy of a validation report built on request.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_schema import BAD, FRAME, SPEC

import happiness_index as hi
from happiness_index import validate_survey
from happiness_index.index.reliability import scale_reliability, weighted_covariance
from happiness_index.survey.variance import ROW_BLOCK, WeightedMoments, srs_variance, srs_variance_of_moments


def _two_pass(X, w):
    keep = w > 0
    X, w = X[keep], w[keep]
    m = (w @ X) / w.sum()
    D = X - m
    return m, (D * w[:, None]).T @ D


@pytest.mark.parametrize("n", [1, 7, ROW_BLOCK - 1, ROW_BLOCK + 1, 2 * ROW_BLOCK + 333])
def test_block_moments_equal_the_two_pass_formula_across_block_boundaries(n):
    rng = np.random.default_rng(n)
    X = rng.normal(50, 10, size=(n, 4)) + rng.integers(0, 2, size=(n, 1)) * 1e3  # offset: cancellation
    w = rng.uniform(0.5, 3, n)
    w[rng.random(n) < 0.1] = 0.0  # rows left out
    mom = WeightedMoments(4)
    for start in range(0, n, ROW_BLOCK):
        mom.add(X[start : start + ROW_BLOCK], w[start : start + ROW_BLOCK])
    if not (w > 0).any():
        assert mom.n == 0 and np.isnan(mom.covariance()).all()
        return
    m, m2 = _two_pass(X, w)
    assert mom.n == int((w > 0).sum()) and mom.sum_w == pytest.approx(w.sum(), rel=1e-13)
    np.testing.assert_allclose(mom.mean, m, rtol=1e-12)
    np.testing.assert_allclose(mom.m2, m2, rtol=1e-9, atol=1e-9 * np.abs(m2).max())
    np.testing.assert_allclose(weighted_covariance(X, w), m2 / w.sum(), rtol=1e-9, atol=1e-9 * np.abs(m2).max())


def test_block_moments_do_not_depend_on_the_cut_of_the_blocks():
    rng = np.random.default_rng(3)
    X, w = rng.normal(size=(1000, 3)), rng.uniform(1, 2, 1000)
    one, many = WeightedMoments(3), WeightedMoments(3)
    one.add(X, w)
    for cut in np.split(np.arange(1000), [1, 2, 500, 999]):
        many.add(X[cut], w[cut])
    np.testing.assert_allclose(many.m2, one.m2, rtol=1e-12)
    np.testing.assert_allclose(many.mean, one.mean, rtol=1e-13)


def test_srs_variance_of_moments_equals_srs_variance():
    rng = np.random.default_rng(5)
    y, w = rng.normal(size=300), rng.uniform(1, 9, 300)
    mom = WeightedMoments(1)
    mom.add(y[:, None], w)
    for total in (False, True):
        for replace in (False, True):
            direct = srs_variance(y, w, np.zeros(300, dtype=np.intp), 1, total=total, replace=replace)
            got = srs_variance_of_moments(mom.n, mom.sum_w, mom.m2.diagonal(), total=total, replace=replace)
            np.testing.assert_allclose(got, np.ravel(direct), rtol=1e-12)


def test_reliability_with_incomplete_rows_equals_complete_cases():
    rng = np.random.default_rng(11)
    X = rng.integers(1, 6, size=(500, 4)).astype(float)
    X[rng.random((500, 4)) < 0.05] = np.nan
    w = rng.uniform(1, 4, 500)
    keep = ~np.isnan(X).any(axis=1)
    a_all, ia_all = scale_reliability(X, w)
    a_cc, ia_cc = scale_reliability(X[keep], w[keep])
    assert a_all == pytest.approx(a_cc, rel=1e-12)
    assert ia_all["n"].tolist() == [int(keep.sum())] * 4
    cols = ["mean", "sd", "item_rest_corr", "alpha_if_deleted"]
    np.testing.assert_allclose(ia_all[cols].to_numpy(), ia_cc[cols].to_numpy(), rtol=1e-12)


def test_item_indicator_masks_equal_the_indicator_frame():
    clean = validate_survey(pd.read_csv(BAD / "good.csv"), SPEC, FRAME).data
    frame = SPEC.satisfied_indicators(clean)
    for name in frame.columns:
        sat, ans = SPEC.item_indicator(clean, name)
        expect = frame[name].to_numpy()
        np.testing.assert_array_equal(ans, ~np.isnan(expect))
        np.testing.assert_array_equal(sat, expect == 1)
    with pytest.raises(hi.SpecError, match="not in the data"):
        SPEC.item_indicator(clean.drop(columns=frame.columns[0]), frame.columns[0])


def test_clean_copy_built_on_request_is_the_clean_data_and_ignores_later_edits():
    df = pd.read_csv(BAD / "good.csv")
    expected = validate_survey(df.copy(), SPEC, FRAME).data
    rep = validate_survey(df, SPEC, FRAME)
    df.loc[:, "q1"] = 1  # the user edits the frame after validating it
    df.loc[0, "id"] = 999
    got = rep.data
    pd.testing.assert_frame_equal(got, expected)
    assert rep.data is got  # built once


@pytest.mark.parametrize("bad", [2.3, 16_777_217.0, 1e300])
def test_item_work_columns_keep_values_float32_cannot_hold(bad):
    # integer codes are checked in float32 when exact; any other value keeps float64, so the
    # check and the message see the value as typed (2.3, not 2.2999999523)
    df = pd.read_csv(BAD / "good.csv")
    df["q3"] = df["q3"].astype(float)
    df.loc[2, "q3"] = bad
    rep = validate_survey(df, SPEC, FRAME)
    err = rep.errors[rep.errors["column"] == "q3"]
    assert err["row"].tolist() == [3]  # the id of the row
    assert err["kind"].tolist() == ["invalid code"]
    assert err["value"].tolist() == [bad]
    assert "2999" not in err["message_en"].iloc[0]


def test_excel_error_found_among_many_rows_of_a_text_column():
    df = pd.read_csv(BAD / "good.csv")
    df = pd.concat([df] * 50, ignore_index=True)
    df["id"] = range(1, len(df) + 1)
    df["q1"] = df["q1"].astype(object)
    df.loc[[17, 333], "q1"] = [" #N/A", "#DIV/0!"]
    rep = validate_survey(df, SPEC, FRAME)
    excel = rep.errors[rep.errors["kind"] == "excel error"]
    assert excel["row"].tolist() == [18, 334]  # ids
    assert set(excel["column"]) == {"q1"}


def test_a_validation_report_pickles_with_its_clean_copy_recipe():
    import pickle

    rep = validate_survey(pd.read_csv(BAD / "good.csv"), SPEC, FRAME)
    again = pickle.loads(pickle.dumps(rep))
    assert again.ok and again.n_rows == rep.n_rows
    pd.testing.assert_frame_equal(again.data, rep.data)
    pd.testing.assert_frame_equal(again.errors, rep.errors)


@pytest.mark.parametrize("blank", [True, False])
def test_clean_copy_of_float_item_columns_with_blanks_and_missing_codes(blank):
    # pandas 3 hands float64 columns out as read-only views: the clean copy must not write to them
    df = pd.read_csv(BAD / "good.csv")
    df["q1"] = df["q1"].astype(float)
    if blank:
        df.loc[0, "q1"] = np.nan
    before = df.copy()
    rep = validate_survey(df, SPEC, FRAME)
    clean = rep.data
    assert rep.ok and str(clean["q1"].dtype) == "Int64"
    assert pd.isna(clean.loc[4, "q1"])  # the missing code 9 of good.csv
    assert pd.isna(clean.loc[0, "q1"]) == blank
    pd.testing.assert_frame_equal(df, before)

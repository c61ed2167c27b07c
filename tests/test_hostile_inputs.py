"""Regression tests for defects found by hostile-input testing (notes/FINDINGS-K.md)."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

import happiness_index as hi


# ---------------------------------------------------------------- spec files
def test_spec_from_device_is_refused_not_read_forever():
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero")
    with pytest.raises(hi.SpecError, match="not a regular file"):
        hi.IndexSpec.from_toml("/dev/zero")


def test_spec_too_large_is_refused(tmp_path):
    p = tmp_path / "big.toml"
    p.write_text('name = "x"\n# ' + "a" * (4 * 2**20 + 10) + "\n", encoding="utf-8")
    with pytest.raises(hi.SpecError, match="larger than"):
        hi.IndexSpec.from_toml(p)


def test_spec_nested_too_deep_is_a_spec_error(tmp_path):
    p = tmp_path / "nested.toml"
    p.write_text("a = " + "[" * 20_000 + "]" * 20_000 + "\n", encoding="utf-8")
    with pytest.raises(hi.SpecError, match="nested too deep"):
        hi.IndexSpec.from_toml(p)


# ---------------------------------------------------------------- rank intervals
@pytest.mark.parametrize("seed", ["x", 1.5, -1, True])
def test_rank_intervals_bad_seed_is_an_estimation_error(seed):
    with pytest.raises(hi.EstimationError, match="seed must be"):
        hi.rank_intervals([1.0, 2.0, 3.0], np.eye(3), draws=100, seed=seed)


def test_rank_intervals_duplicate_units_refused():
    with pytest.raises(hi.EstimationError, match="unique.*'a'"):
        hi.rank_intervals([1.0, 2.0, 3.0], np.eye(3), draws=100, units=["a", "a", "b"])


def test_rank_intervals_absurd_draws_refused_before_allocating():
    with pytest.raises(hi.EstimationError, match="draws must be"):
        hi.rank_intervals([1.0, 2.0, 3.0], np.eye(3), draws=10**12)


# ---------------------------------------------------------------- sampling
@pytest.mark.parametrize("kw", [dict(moe=1e-300), dict(cv=1e-300)])
def test_sample_size_tiny_precision_is_a_sampling_error(kw):
    with pytest.raises(hi.SamplingError, match="too small"):
        hi.sample_size(**kw)


@pytest.mark.parametrize("seed", ["x", 1.5, -3])
def test_select_bad_seed_is_a_sampling_error(seed):
    units = pd.DataFrame({"stratum": list("aaabb"), "id": range(5)})
    with pytest.raises(hi.SamplingError, match="seed must be"):
        hi.select(units, {"a": 1, "b": 1}, seed=seed, stratum="stratum")


# ---------------------------------------------------------------- Fay-Herriot
def _fh():
    return pd.DataFrame(
        {"area": list("abcdef"), "y": [50.0, 60, 55, 70, 65, 52], "v": [4.0, 5, 6, 3, 4, 5], "x": [1.0, 2, 3, 4, 5, 6]}
    )


def test_fay_herriot_estimate_without_variance_is_refused_not_dropped():
    df = _fh().assign(v=[np.nan, 5, 6, 3, 4, 5])
    with pytest.raises(hi.EstimationError, match="estimate in 'y' but no variance"):
        hi.fay_herriot(df, "y", "v", ["x"], area="area")


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy overflow on the way to the refusal
@pytest.mark.parametrize("col,values", [("v", [1e308] * 6), ("y", [1e300, -1e300, 1e300, 1, 2, 3])])
def test_fay_herriot_extreme_magnitudes_are_an_estimation_error(col, values):
    df = _fh().assign(**{col: values})
    with pytest.raises(hi.EstimationError):
        hi.fay_herriot(df, "y", "v", ["x"], area="area")


# ---------------------------------------------------------------- compressed files
def test_decompression_bomb_message_is_not_reworded_as_a_broken_archive(tmp_path):
    import gzip

    p = tmp_path / "bomb.csv.gz"
    with gzip.open(p, "wb", compresslevel=9) as f:
        f.write(b"a,b\n")
        for _ in range(40):
            f.write(b"1,2\n" * (1 << 18))  # 40 MiB of text from ~40 kB
    with pytest.raises(hi.DataFileError) as info:
        hi.read_survey(p)
    msg = str(info.value)
    assert "decompression bomb" in msg
    assert "not a valid gzip file" not in msg and "copy it again" not in msg


# ---------------------------------------------------------------- many domains
def test_delta_cov_block_product_equals_the_dense_product():
    from happiness_index.index.composite import _delta_cov

    rng = np.random.default_rng(1)
    for D, k, Q, has_by in [(1, 4, 3, False), (5, 4, 3, True), (3, 6, 7, True)]:
        A = rng.normal(size=(D * k, D * k))
        V = A @ A.T
        U = D + 1 if has_by else 1
        J = rng.normal(size=(U, Q, k))
        G = np.zeros((U * Q, D * k))
        for u in range(D):
            G[u * Q : (u + 1) * Q, u * k : (u + 1) * k] = J[u]
        if has_by:
            G[D * Q :, :] = np.tile(J[-1], (1, D))
        np.testing.assert_allclose(_delta_cov(V, J, D, k, Q, has_by), G @ V @ G.T, rtol=1e-12, atol=1e-10)


# ---------------------------------------------------------------- item distributions
def test_item_distributions_warns_about_an_item_nobody_answered():
    spec = hi.IndexSpec.from_toml("methodology/yen_bai_nef.toml")
    s = hi.load_city_survey(2024).assign(le_rating=np.nan)
    design = hi.SurveyDesign(s, weights="weight", strata="commune", psu="village", nest=True)
    with pytest.warns(hi.HappinessIndexWarning, match="le_rating in city"):
        table = hi.item_distributions(design, spec)
    assert "le_rating" not in set(table.to_frame()["item"])


# ---------------------------------------------------------------- compare
@pytest.fixture(scope="module")
def two_methods(tmp_path_factory):
    src = open("methodology/yen_bai_nef.toml", encoding="utf-8").read()
    d = tmp_path_factory.mktemp("specs")
    alt = d / "alt.toml"
    alt.write_text(src.replace('formula = "ls * le / env"', 'formula = "(ls + le + env) / 3"', 1), encoding="utf-8")
    prop = d / "prop.toml"
    prop.write_text(src.replace('scale = "percent"', 'scale = "proportion"', 1), encoding="utf-8")
    spec = hi.IndexSpec.from_toml("methodology/yen_bai_nef.toml")
    s24, s23 = hi.load_city_survey(2024), hi.load_city_survey(2023)
    return (
        hi.compute_index(s24, spec, by="commune"),
        hi.compute_index(s23, hi.IndexSpec.from_toml(alt), by="commune"),
        hi.compute_index(s23, hi.IndexSpec.from_toml(prop), by="commune"),
        hi.compute_index(s23, spec, by="village"),
    )


def test_compare_refuses_results_of_different_formulas(two_methods):
    new, alt, _, _ = two_methods
    with pytest.raises(hi.EstimationError, match="different index methods.*formula"):
        hi.compare(new, alt)
    with pytest.raises(hi.EstimationError, match="different index methods"):
        hi.compare(new.to_dict(), alt.to_dict())


def test_compare_refuses_percent_against_proportion(two_methods):
    new, _, prop, _ = two_methods
    with pytest.raises(hi.EstimationError, match="scale: new 'percent', old 'proportion'"):
        hi.compare(new, prop)


def test_compare_tables_with_no_common_domain_is_refused(two_methods):
    new, _, _, by_village = two_methods
    with pytest.raises(hi.EstimationError, match="no domain in common"):
        hi.compare(new.by_group, by_village.by_group)


def test_average_rule_with_every_stratum_lonely_warns_not_silent_nan():
    import pandas as pd

    d = pd.DataFrame({"h": [1, 2, 3], "psu": [1, 2, 3], "y": [1.0, 2.0, 4.0], "w": [1.0, 1.0, 1.0]})
    des = hi.SurveyDesign(d, weights="w", strata="h", psu="psu", lonely_psu="average")
    with pytest.warns(hi.errors.LonelyPSUWarning, match="no other stratum to average over"):
        est = des.mean("y")
    assert est.estimate == pytest.approx(7 / 3)


def test_many_domains_without_df_give_one_warning_not_one_per_estimate():
    d = pd.DataFrame({"psu": np.repeat(np.arange(50), 4), "y": np.arange(200.0) % 7, "z": np.arange(200.0) % 3})
    des = hi.SurveyDesign(d, psu="psu")
    with pytest.warns(hi.errors.DomainDfWarning) as rec:
        tab = des.by("psu").mean(["y", "z"])
    assert len([w for w in rec if issubclass(w.category, hi.errors.DomainDfWarning)]) == 1
    assert "100 estimates have no design degrees of freedom" in str(rec[0].message)
    assert np.isnan(tab.to_frame()["ci_low"]).all()

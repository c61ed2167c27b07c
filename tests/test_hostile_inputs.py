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

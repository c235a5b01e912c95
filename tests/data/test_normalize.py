"""Input normalization modes: statistics from train only; sphere projection; bad input."""

from __future__ import annotations

import numpy as np
import pytest

from nvk.data.normalize import NORMALIZE_MODES, normalize


def test_modes() -> None:
    rng = np.random.default_rng(0)
    tr, te = rng.normal(3.0, 2.0, (100, 4)), rng.normal(3.0, 2.0, (10, 4))
    tr[:, 2] = 5.0  # a constant feature
    a, b = normalize(tr, te, mode="none")
    np.testing.assert_array_equal(a, tr)
    a, b = normalize(tr, te, mode="standardize")
    np.testing.assert_allclose(a.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(a.std(0)[[0, 1, 3]], 1)
    assert np.all(a[:, 2] == 0)
    np.testing.assert_allclose(b[:, 2], te[:, 2] - 5.0)  # std 0 -> 1: only centred
    np.testing.assert_allclose(b, (te - tr.mean(0)) / np.where(tr.std(0) > 0, tr.std(0), 1))
    a, b = normalize(tr, te, mode="sphere")
    np.testing.assert_allclose(np.linalg.norm(b, axis=1), 1)
    np.testing.assert_allclose(b * np.linalg.norm(te, axis=1, keepdims=True), te)
    a, b = normalize(tr, te, mode="standardize_sphere")
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1)
    assert set(NORMALIZE_MODES) == {"none", "standardize", "sphere", "standardize_sphere"}


def test_bad_mode_and_zero_rows() -> None:
    with pytest.raises(ValueError, match="valid: none, standardize, sphere, standardize_sphere"):
        normalize(np.ones((2, 2)), mode="unit")
    with pytest.raises(ValueError, match=r"'toy': 1 split 1 row\(s\) of norm 0 \(first: \[1\]\)"):
        normalize(np.ones((2, 2)), np.array([[1.0, 0], [0, 0]]), mode="sphere", dataset="toy")

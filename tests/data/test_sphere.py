"""`data=sphere`: points on S^{d-1}, harmonic targets with the documented norms, noise, labels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nvk import harmonics as H
from nvk.data import SphereDataModule


@pytest.mark.parametrize("dim", [2, 3, 5])
def test_points_on_sphere_shapes_and_seeding(dim: int) -> None:
    dm = SphereDataModule(dim=dim, n=50, n_val=20, n_test=30, seed=3)
    d = dm.full_batch()
    assert (
        d.x_train.shape == (50, dim) and d.x_val.shape == (20, dim) and d.x_test.shape == (30, dim)
    )
    for x in (d.x_train, d.x_val, d.x_test):
        torch.testing.assert_close(x.norm(dim=1), torch.ones(len(x)))
    assert d.y_train.shape == (50,) and d.y_train.dtype == torch.float32
    assert dm.info.in_shape == (dim,) and dm.info.num_outputs == 1 and dm.info.task == "regression"
    again = SphereDataModule(dim=dim, n=50, n_val=20, n_test=30, seed=3).full_batch()
    assert torch.equal(again.x_train, d.x_train) and torch.equal(again.y_test, d.y_test)
    other = SphereDataModule(dim=dim, n=50, n_val=20, n_test=30, seed=4).full_batch()
    assert not torch.equal(other.x_train, d.x_train)
    assert not torch.equal(d.x_val, d.x_test[:20])  # independent streams


@pytest.mark.parametrize(
    ("dim", "target"), [(2, "zonal"), (3, "random"), (4, "zonal"), (5, "random")]
)
def test_target_norm_is_the_amplitudes_by_quadrature(dim: int, target: str) -> None:
    freqs, amps = [0, 2, 5], [0.5, 1.5, -2.0]
    dm = SphereDataModule(dim=dim, frequencies=freqs, amplitudes=amps, target=target, seed=1)
    x, w = H.sphere_quadrature(dim, 6)  # exact to degree 11 ≥ deg f² = 10
    f = dm.target_function(x)
    assert w @ f**2 == pytest.approx(sum(a * a for a in amps), abs=1e-10)
    wf = w * f
    gram = np.clip(x @ x.T, -1, 1)
    for k, a in zip(freqs, amps):  # ‖proj_k f‖² = N(d,k) ∫∫ f(x) P_k(<x,y>) f(y) = a²
        norm2 = H.multiplicity(dim, k) * wf @ H.legendre(k, dim, gram) @ wf
        assert norm2 == pytest.approx(a * a, abs=1e-9)


def test_zonal_target_on_circle_is_a_cosine_and_targets_match_function() -> None:
    dm = SphereDataModule(dim=2, n=16, frequencies=[3], amplitudes=[2.0], sampling="equispaced")
    d = dm.full_batch()
    theta = 2 * np.pi * np.arange(16) / 16
    np.testing.assert_allclose(
        d.x_train.numpy(), np.stack([np.cos(theta), np.sin(theta)], 1), atol=1e-7
    )
    # pole e_2 = (0, 1): f = 2 √2 cos(3 (θ - π/2))
    expect = 2 * np.sqrt(2) * np.cos(3 * (theta - np.pi / 2))
    np.testing.assert_allclose(d.y_train.numpy(), expect, atol=1e-5)
    np.testing.assert_allclose(
        d.y_test.numpy(), dm.target_function(d.x_test.numpy().astype(np.float64)), atol=1e-5
    )


def test_regression_noise_on_train_only() -> None:
    dm = SphereDataModule(dim=3, n=4000, n_test=200, noise=0.3, seed=0)
    d = dm.full_batch()
    clean = dm.target_function(dm.points()[0])
    resid = d.y_train.numpy() - clean
    assert resid.std() == pytest.approx(0.3, rel=0.05)
    np.testing.assert_allclose(d.y_test.numpy(), dm.target_function(dm.points()[2]), atol=1e-5)


def test_classification_labels_flips_and_random_labels() -> None:
    kw = dict(dim=3, n=4000, n_test=100, frequencies=[1, 3], task="classification", seed=2)
    clean = SphereDataModule(**kw).full_batch()
    f = SphereDataModule(**kw).target_function(clean.x_train.numpy().astype(np.float64))
    assert clean.y_train.dtype == torch.int64
    np.testing.assert_array_equal(clean.y_train.numpy(), (f > 0).astype(np.int64))
    noisy = SphereDataModule(**kw, noise=0.2).full_batch()
    flipped = (noisy.y_train != clean.y_train).float().mean().item()
    assert flipped == pytest.approx(0.2, abs=0.03)
    assert torch.equal(noisy.y_test, clean.y_test)
    rand = SphereDataModule(**kw, random_labels=True).full_batch()
    assert torch.equal(rand.y_train.sort().values, clean.y_train.sort().values)
    assert (rand.y_train == clean.y_train).float().mean() < 0.7
    assert SphereDataModule(**kw).info.num_outputs == 2


def test_normalize_options() -> None:
    d = SphereDataModule(dim=3, n=300, normalize="standardize").full_batch()
    torch.testing.assert_close(d.x_train.mean(0), torch.zeros(3), atol=1e-6, rtol=0)
    torch.testing.assert_close(d.x_train.std(0, unbiased=False), torch.ones(3), atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    ("kw", "msg"),
    [
        (dict(dim=1), "must be >= 2"),
        (dict(dim=3, sampling="equispaced"), "S¹ only"),
        (dict(frequencies=[1, 2], amplitudes=[1.0]), "amplitudes has 1 entries"),
        (dict(frequencies=[-1]), "non-negative integers"),
        (dict(target="gauss"), "valid: zonal, random"),
        (dict(normalize="l2"), "valid: none, standardize"),
        (dict(task="classification", noise=1.5), "fraction"),
    ],
)
def test_bad_arguments(kw: dict, msg: str) -> None:
    with pytest.raises(ValueError, match=msg):
        SphereDataModule(**kw)

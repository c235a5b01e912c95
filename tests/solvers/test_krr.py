import logging

import pytest
import torch

from nvk.solvers import (
    KRROptions,
    encode_targets,
    gcv_scores,
    krr_fit,
    krr_predict,
    select_ridge_val,
)


def gaussian(a, b, c=0.5):  # naive reference kernel exp(-c|a-b|^2)
    return torch.exp(-c * torch.cdist(a, b).pow(2))


def laplace(a, b, c=1.0):
    return torch.exp(-c * torch.cdist(a, b))


@pytest.fixture
def problem():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(60, 5, generator=g, dtype=torch.float64)
    Xt = torch.randn(20, 5, generator=g, dtype=torch.float64)
    Y = torch.randn(60, 3, generator=g, dtype=torch.float64)
    return X, Xt, Y


@pytest.mark.parametrize("ridge", [1e-3, 0.1, 10.0])
def test_krr_equals_linalg_solve(problem, ridge):
    X, Xt, Y = problem
    K = gaussian(X, X)
    fit = krr_fit(K, Y, ridge=ridge)
    ref = torch.linalg.solve(K + ridge * torch.eye(len(X), dtype=K.dtype), Y)
    torch.testing.assert_close(fit.alpha, ref, rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(krr_predict(gaussian(Xt, X), fit), gaussian(Xt, X) @ ref)


def test_interpolation_reproduces_training_targets(problem):
    X, _, Y = problem
    K = laplace(X, X)
    fit = krr_fit(K, Y, ridge=0.0)
    assert fit.jitter == 0.0
    assert (krr_predict(K, fit) - Y).abs().max() < 1e-8


def test_singular_gram_gets_jitter_a_warning_and_finite_predictions(problem, caplog):
    X, Xt, Y = problem
    Xd = torch.cat([X, X[:10]])  # duplicate rows: K is exactly singular
    Yd = torch.cat([Y, Y[:10]])
    K = gaussian(Xd, Xd, c=0.01)  # also badly conditioned
    with caplog.at_level(logging.WARNING, logger="nvk.solvers"):
        fit = krr_fit(K, Yd, ridge=0.0)
    assert fit.jitter > 0
    assert "jitter" in caplog.text
    assert torch.isfinite(krr_predict(gaussian(Xt, Xd, c=0.01), fit)).all()


def test_gcv_matches_the_explicit_hat_matrix_formula(problem):
    X, _, Y = problem
    K = gaussian(X, X)
    ridges = [1e-3, 1e-1, 1.0]
    got = gcv_scores(K, Y, ridges)
    n = len(X)
    for lam, g in zip(ridges, got):
        H = K @ torch.linalg.inv(K + lam * torch.eye(n, dtype=K.dtype))
        IH = torch.eye(n, dtype=K.dtype) - H
        ref = n * (IH @ Y).pow(2).sum() / torch.trace(IH) ** 2
        assert float(g) == pytest.approx(float(ref), rel=1e-8)


def test_validation_selection_picks_the_best_ridge_first_wins(problem):
    X, Xt, Y = problem
    Yt = torch.sin(Xt[:, :3])
    K, Kv = gaussian(X, X), gaussian(Xt, X)
    ridges = [1e-4, 1e-2, 1.0, 1.0]

    def score(pred):
        return -float((pred - Yt).pow(2).mean())

    best, scores = select_ridge_val(K, Y, Kv, score, ridges)
    brute = [score(krr_predict(Kv, krr_fit(K, Y, ridge=r))) for r in ridges]
    assert scores == pytest.approx(brute)
    assert best == ridges[max(range(len(ridges)), key=lambda i: (brute[i], -i))]


def test_target_encodings():
    y = torch.tensor([0, 2, 1])
    onehot = encode_targets(y, task="classification", num_classes=3)
    centered = encode_targets(y, task="classification", num_classes=3, encoding="centered")
    torch.testing.assert_close(onehot, torch.eye(3, dtype=torch.float64)[[0, 2, 1]])
    torch.testing.assert_close(centered.sum(1), torch.zeros(3, dtype=torch.float64))
    assert encode_targets(torch.ones(4), task="regression", num_classes=1).shape == (4, 1)


@pytest.mark.parametrize(
    "bad", [dict(ridge=-1.0), dict(ridges=(0.1, -0.1)), dict(jitter=-1), dict(select="cv")]
)
def test_bad_options_raise(bad):
    with pytest.raises(ValueError):
        KRROptions(**bad)


def test_bad_input_raises(problem):
    X, _, Y = problem
    K = gaussian(X, X)
    with pytest.raises(ValueError, match="ridge"):
        krr_fit(K, Y, ridge=-0.1)
    with pytest.raises(ValueError, match="rows"):
        krr_fit(K, Y[:-1])
    K[3, 4] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        krr_fit(K, Y)
    with pytest.raises(ValueError, match="NaN"):
        encode_targets(torch.tensor([1.0, float("nan")]), task="regression", num_classes=1)


def test_cholesky_shifts_in_place_and_restores_k_bit_for_bit():
    """The factor equals cholesky(K + sI) formed out of place, and K comes back unchanged (its
    diagonal is shifted in place so the peak is two N × N buffers, not four)."""
    from nvk.solvers.linalg import cholesky_jitter

    g = torch.Generator().manual_seed(3)
    A = torch.randn(60, 8, generator=g, dtype=torch.float64)
    K = A @ A.T  # rank 8: needs jitter at shift 0
    before = K.clone()
    for shift in (1e-3, 0.0):
        L, used = cholesky_jitter(K, shift=shift)
        ref = torch.linalg.cholesky(before + (shift + used) * torch.eye(60, dtype=K.dtype))
        assert torch.equal(L, ref) and torch.equal(K, before)
    assert used > 0

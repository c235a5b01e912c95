"""Solver classes as kernel models use them: fit, predict, state round trip, bad input."""

import pytest
import torch

from nvk.data import DataInfo
from nvk.solvers import FalkonSolver, KRRSolver, SVCSolver

CLS = DataInfo(name="toy", in_shape=(2, 3), num_outputs=3, task="classification")
REG = DataInfo(name="toyreg", in_shape=(6,), num_outputs=1, task="regression")


def gaussian(a, b):
    return torch.exp(-0.1 * torch.cdist(a, b).pow(2))


def blobs(n, seed):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    centres = torch.tensor([[2.0] * 6, [-2.0] * 6, [2.0, -2.0] * 3], dtype=torch.float64)
    x = centres[y] + torch.randn(n, 6, generator=g, dtype=torch.float64)
    return x.reshape(n, 2, 3), y  # images are flattened by the solver


@pytest.mark.parametrize(
    "make",
    [
        lambda: KRRSolver(ridge=1e-3),
        lambda: KRRSolver(select="val", ridges=(1e-3, 1e-1, 10.0)),
        lambda: KRRSolver(select="gcv", ridges=(1e-3, 1e-1, 10.0), targets="centered"),
        lambda: SVCSolver(C=1.0),
        lambda: FalkonSolver(centers=40, ridge=1e-4),
    ],
)
def test_classifiers_learn_and_their_state_round_trips(make):
    x, y = blobs(200, 0)
    xv, yv = blobs(100, 1)
    s = make()
    s.fit(gaussian, x, y, CLS, val=(xv, yv))
    scores = s.predict(gaussian, xv)
    assert scores.shape == (100, 3)
    assert (scores.argmax(1) == yv).double().mean() > 0.9
    fresh = make()
    fresh.load_state_dict({k: v.clone() for k, v in s.state_dict().items()})
    torch.testing.assert_close(fresh.predict(gaussian, xv), scores)


def test_krr_validation_selection_records_the_chosen_ridge():
    x, y = blobs(150, 0)
    s = KRRSolver(select="val", ridges=(1e-6, 1e3))
    s.fit(gaussian, x, y, CLS, val=blobs(100, 1))
    assert s.ridge_ in (1e-6, 1e3)
    with pytest.raises(ValueError, match="validation"):
        KRRSolver(select="val").fit(gaussian, x, y, CLS)


def test_regression_with_krr_and_svc_refusal():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(100, 6, generator=g, dtype=torch.float64)
    y = torch.sin(x[:, 0])
    s = KRRSolver(ridge=1e-2)
    s.fit(gaussian, x, y, REG)
    assert s.predict(gaussian, x).shape == (100, 1)
    with pytest.raises(ValueError, match="regression"):
        SVCSolver().fit(gaussian, x, y, REG)


def test_unfitted_predict_and_bad_options():
    with pytest.raises(RuntimeError, match="not fitted"):
        KRRSolver().predict(gaussian, torch.zeros(2, 6))
    with pytest.raises(ValueError, match="C > 0"):
        SVCSolver(C=0.0)
    with pytest.raises(ValueError, match="ridge"):
        KRRSolver(ridge=-1)
    x, y = blobs(30, 0)
    with pytest.raises(ValueError, match="exceeds"):
        FalkonSolver(centers=31).fit(gaussian, x, y, CLS)

"""Monte Carlo: the kernel of a wide finite twin converges to the layer list's analytic kernel.

For every layer type, the empirical NNGP (output covariance over many readout units and seeds,
`nvk.kernels.monte_carlo_kernel(kind="nngp")`) and the empirical NTK (`empirical_ntk` averaged
over seeds, kind="ntk") of networks built by `build_net` are compared with `kernel_fn` in
relative Frobenius norm ‖K̂ − K‖_F / ‖K‖_F (float64, fixed seeds).

The errors are sampling noise of order 1/√(width · seeds) (checked: the mean ratio K̂/K over
800 seeds of a 32-channel conv net is 0.9996, no bias). Measured with these seeds (0, 1, …) and,
in brackets, with two other seed sets (1000, … and 2000, …); tolerance 0.1 for every case:

    case       NNGP                   NTK
    relu       0.012 [0.045 0.042]    0.021 [0.025 0.013]
    leaky      0.013 [0.037 0.037]    0.016 [0.021 0.033]
    abs        0.015 [0.020 0.008]    0.013 [0.008 0.023]
    erf        0.023 [0.019 0.027]    0.007 [0.009 0.013]
    sign       0.021 [0.024 0.020]    0.012 [0.013 0.012]
    step       0.013 [0.019 0.014]    0.010 [0.007 0.007]
    standard   0.012 [0.045 0.042]    0.019 [0.017 0.010]   (NNGP = relu's: same function)
    conv_s2    0.011 [0.030 0.010]    0.011 [0.014 0.016]
    avgpool    0.020 [0.020 0.028]    0.035 [0.032 0.036]
    flatten    0.017 [0.013 0.027]    0.025 [0.017 0.009]
    resnet     0.017 [0.029 0.012]    0.025 [0.028 0.019]
    conv_std   0.024 [0.010 0.022]    0.052 [0.042 0.027]

(vector nets: width 512 × 24 seeds × 1024 readout units for the NNGP, width 1024 × 16 seeds for
the NTK; image nets: 64 channels × 96 seeds × 512 units for the NNGP, 64 channels × 32 seeds
for the NTK; 0.1–2 s per case on one thread). Exact identities (test_exact.py) pin the
biases and the standard parameterization more tightly than this noise can.
"""

from __future__ import annotations

import pytest
import torch

from nvk.kernels import monte_carlo_kernel
from nvk.layers import (
    Abs,
    AvgPool,
    Conv,
    Dense,
    Erf,
    Flatten,
    GlobalAvgPool,
    LeakyReLU,
    ReLU,
    Sign,
    Step,
    build_net,
    cnn,
    kernel_fn,
    resnet_small,
    serial,
)
from tests.kernels.conftest import randn, rel_fro

VECTOR = dict(nngp=(512, 24, 1024), ntk=(1024, 16, 1))  # (width, seeds, readout units)
IMAGE = dict(nngp=(64, 96, 512), ntk=(64, 32, 1))
TOL = 0.1


def _two_hidden(act, **kw):
    """Dense(b Gaussian) → act → Dense(b zero-init) → act → readout: two activations, so the NTK
    runs through E[φ'φ'] twice; biases of both inits."""

    def make(width: int, out: int):
        return serial(
            Dense(width, b_std=0.3, bias_init="gaussian", **kw), act,
            Dense(width, b_std=0.2, **kw), act,
            Dense(out, 1.0, b_std=0.2, **kw),
        )  # fmt: skip

    return make


VECTOR_CASES = {
    "relu": _two_hidden(ReLU()),
    "leaky": _two_hidden(LeakyReLU(0.2)),
    "abs": _two_hidden(Abs()),
    "erf": _two_hidden(Erf(0.7)),
    "sign": _two_hidden(Sign()),
    "step": _two_hidden(Step()),
    "standard": _two_hidden(ReLU(), parameterization="standard"),
}

IMAGE_CASES = {
    # stride 2 + valid padding + zero-init bias, an even kernel with asymmetric "same" padding
    # and a Gaussian bias, Erf, then the trace readout (Flatten)
    "conv_s2": (
        lambda C, o: serial(
            Conv(C, 3, stride=2, padding="valid", b_std=0.3),
            ReLU(),
            Conv(C, 2, padding="same", b_std=0.2, bias_init="gaussian"),
            Erf(),
            Flatten(),
            Dense(o, 1.0),
        ),
        (2, 7, 7),
    ),
    "avgpool": (
        lambda C, o: serial(
            Conv(C, 3),
            ReLU(),
            AvgPool(2),
            Conv(C, 3, padding=1),
            LeakyReLU(0.3),
            GlobalAvgPool(),
            Dense(o, 1.0),
        ),
        (2, 4, 4),
    ),
    "flatten": (lambda C, o: cnn(2, C, "flatten", o), (2, 4, 4)),
    # FanOut(2), parallel(serial(ReLU, Conv, ReLU, Conv), Identity()), FanInSum(), GAP
    "resnet": (lambda C, o: resnet_small(1, C, "gap", o), (2, 4, 4)),
    "conv_std": (
        lambda C, o: serial(
            Conv(C, 3, b_std=0.5, parameterization="standard"),
            ReLU(),
            Conv(C, 3, stride=2, parameterization="standard"),
            ReLU(),
            Flatten(),
            Dense(o, 1.0, parameterization="standard"),
        ),
        (2, 4, 4),
    ),
}


def mc_error(name: str, kind: str, first_seed: int = 0) -> float:
    """‖K̂ − K‖_F / ‖K‖_F for one case (`kind` "nngp" or "ntk")."""
    if name in VECTOR_CASES:
        width, seeds, out = VECTOR[kind]
        layer, in_shape = VECTOR_CASES[name](width, out), (6,)
        x = randn(5, 6, seed=1)
        x[4] = -0.5 * x[1]  # anti-parallel rows (ρ = −1)
    else:
        width, seeds, out = IMAGE[kind]
        make, in_shape = IMAGE_CASES[name]
        layer = make(width, out)
        x = randn(4, *in_shape, seed=2)
    emp = monte_carlo_kernel(
        lambda seed: build_net(layer, in_shape),
        x,
        seeds=range(first_seed, first_seed + seeds),
        kind=kind,
    )
    return rel_fro(emp, kernel_fn(layer, in_shape)(x, get=kind))


@pytest.mark.parametrize("kind", ["nngp", "ntk"])
@pytest.mark.parametrize("name", list(VECTOR_CASES))
def test_dense_and_activations_match_wide_network(name, kind):
    assert mc_error(name, kind) < TOL


@pytest.mark.parametrize("kind", ["nngp", "ntk"])
@pytest.mark.parametrize("name", list(IMAGE_CASES))
def test_image_layers_match_wide_network(name, kind):
    assert mc_error(name, kind) < TOL


def test_empirical_kernels_are_float64():
    layer = _two_hidden(ReLU())(8, 1)
    x = randn(3, 6, seed=3)
    emp = monte_carlo_kernel(lambda s: build_net(layer, (6,)), x, seeds=range(1), kind="ntk")
    assert emp.dtype == torch.float64 and kernel_fn(layer)(x).dtype == torch.float64

"""Clear errors: kernel-only layers, layouts, bad parameters, bad inputs, invalid compositions."""

from __future__ import annotations

import pytest
import torch

from nvk.layers import (
    AvgPool,
    Conv,
    Dense,
    Erf,
    ExpMap,
    FanInSum,
    FanOut,
    Flatten,
    GlobalAvgPool,
    Identity,
    LeakyReLU,
    NoFiniteTwinError,
    ReLU,
    build_net,
    cexp,
    cnn,
    kernel_fn,
    mlp,
    myrtle,
    parallel,
    serial,
    twins,
)
from tests.kernels.conftest import randn


def test_expmap_build_says_no_finite_twin():
    with pytest.raises(NoFiniteTwinError, match="no finite twin"):
        ExpMap(1.0, 1.0).build((3, 8, 8))
    with pytest.raises(ValueError, match="no finite twin"):  # NoFiniteTwinError is a ValueError
        build_net(cexp(2, in_shape=(3, 8, 8)), (3, 8, 8))


def test_expmap_lists_are_nngp_only():
    k = kernel_fn(cexp(2, in_shape=(2, 4, 4)))
    x = randn(3, 2, 4, 4, seed=0)
    assert k(x, get="nngp").shape == (3, 3)
    with pytest.raises(ValueError, match=r"get='ntk' is not available: ExpMap.*get='nngp'"):
        k(x)
    assert k.state(x, get="nngp").ntk is None


def test_pooling_on_the_same_position_layout_raises_naming_the_fix():
    x = randn(2, 1, 4, 4, seed=1)
    for pool in (GlobalAvgPool(), AvgPool(2)):
        tail = [Dense(1, 1.0)] if isinstance(pool, GlobalAvgPool) else [Flatten(), Dense(1, 1.0)]
        k = kernel_fn(serial(Conv(2, 3), ReLU(), pool, *tail))
        with pytest.raises(ValueError, match=r"cannot run on the 'diag' layout.*layout='full'"):
            k(x, layout="diag")
        k(x)  # auto: full


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: Dense(4, W_std=-1.0), r"Dense: W_std must be a finite number > 0"),
        (lambda: Dense(4, b_std=-0.1), r"Dense: b_std must be a finite number >= 0"),
        (lambda: Dense(0), r"Dense: out must be an integer >= 1"),
        (lambda: Dense(4, bias_init="uniform"), r"bias_init must be one of \('zero', 'gaussian'\)"),
        (lambda: Dense(4, parameterization="mup"), r"one of \('ntk', 'standard'\)"),
        (lambda: Conv(4, W_std=float("nan")), r"Conv: W_std must be a finite number > 0"),
        (lambda: Conv(4, padding="full"), r"padding must be one of \('same', 'valid', 'an int"),
        (lambda: Conv(4, padding=-1), r"padding must be one of \('same', 'valid'"),
        (lambda: Conv(4, stride=0), r"Conv: stride must be an integer >= 1"),
        (lambda: Conv(4, kernel=2.5), r"Conv: kernel must be an integer >= 1"),
        (lambda: AvgPool(2, padding="reflect"), r"AvgPool: padding must be one of"),
        (lambda: Erf(a=0.0), r"Erf: a must be a finite number > 0"),
        (lambda: LeakyReLU(float("inf")), r"LeakyReLU: alpha must be a finite number"),
        (lambda: ExpMap(c=0.0), r"ExpMap: c must be a finite number > 0"),
        (lambda: ExpMap(gamma=2.5), r"gamma must lie in \(0, 2\]"),
        (lambda: FanOut(0), r"FanOut: n must be an integer >= 1"),
        (lambda: myrtle(6), r"myrtle: depth must be one of \(5, 7, 10\)"),
        (lambda: cnn(2, 4, readout="max"), r"readout must be one of \('flatten', 'trace', 'gap'\)"),
        (lambda: cexp(2, in_shape=(8, 8)), r"cexp: in_shape must be \(C, H, W\)"),
        (lambda: serial(), r"serial: needs at least one layer"),
        (lambda: serial(Dense(2), "relu"), r"serial: expected Layer objects, got str"),
    ],
)
def test_bad_parameters_raise_value_error_naming_valid_values(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_inputs_raise_value_error():
    k = kernel_fn(mlp(2, 4))
    x = randn(3, 5, seed=2)
    bad = x.clone()
    bad[1, 2] = float("nan")
    with pytest.raises(ValueError, match=r"x1 holds non-finite"):
        k(bad, x)
    with pytest.raises(ValueError, match=r"x2 holds non-finite"):
        k(x, bad.clone().fill_(float("inf")))
    with pytest.raises(ValueError, match=r"input shapes differ: x1 rows \(5,\), x2 rows \(4,\)"):
        k(x, x[:, :4])
    with pytest.raises(ValueError, match="floating-point"):
        k(x.long())
    with pytest.raises(ValueError, match=r"vectors \(N, D\) or images \(N, C, H, W\)"):
        k(x[0])
    with pytest.raises(ValueError, match="get must be one of"):
        k(x, get="both")
    with pytest.raises(ValueError, match="layout must be one of"):
        k(x, layout="sparse")
    _, kk = twins(cnn(1, 2), in_shape=(1, 4, 4))
    with pytest.raises(ValueError, match=r"built for in_shape=\(1, 4, 4\)"):
        kk(randn(2, 1, 5, 5, seed=3))
    with pytest.raises(ValueError, match=r"rows have 15 features, in_shape \(1, 4, 4\) needs 16"):
        kk(randn(2, 15, seed=3))


def test_shape_errors_name_the_fix():
    with pytest.raises(ValueError, match=r"Dense needs vector features.*Flatten\(\)"):
        build_net(serial(Conv(2), ReLU(), Dense(1)), (1, 4, 4))
    with pytest.raises(ValueError, match=r"Conv needs images \(C, H, W\)"):
        kernel_fn(serial(Conv(2), Flatten(), Dense(1)))(randn(2, 5, seed=4))
    with pytest.raises(ValueError, match="does not fit"):
        Conv(2, 5, padding="valid").out_shape((1, 4, 4))
    with pytest.raises(ValueError, match="must end in vector features"):
        kernel_fn(serial(Conv(2), ReLU()), in_shape=(1, 4, 4))
    with pytest.raises(ValueError, match=r"parallel: 2 layers need 2 branches \(use FanOut\(2\)"):
        build_net(serial(Dense(2), parallel(Dense(2), Dense(2)), FanInSum()), (3,))
    with pytest.raises(ValueError, match="FanInSum: branch shapes differ"):
        build_net(serial(Dense(2), FanOut(2), parallel(Dense(2), Dense(3)), FanInSum()), (3,))
    with pytest.raises(ValueError, match=r"takes one input but got 2 branches"):
        build_net(serial(FanOut(2), Dense(2)), (3,))


def test_activation_on_non_gaussian_input_raises():
    x = randn(3, 4, seed=5)
    with pytest.raises(ValueError, match=r"ReLU\(\) needs Gaussian pre-activations"):
        kernel_fn(serial(ReLU(), Dense(1)))(x)  # raw inputs
    with pytest.raises(ValueError, match=r"Erf\(a=1.0\) needs Gaussian pre-activations"):
        kernel_fn(serial(Dense(4), ReLU(), Erf(), Dense(1)))(x)
    # post-activation skip: x + f(x) with x = ReLU(·) is not Gaussian, a ReLU after it raises
    block = [FanOut(2), parallel(serial(Dense(4), ReLU(), Dense(4)), Identity()), FanInSum()]
    with pytest.raises(ValueError, match="needs Gaussian"):
        kernel_fn(serial(Dense(4), ReLU(), *block, ReLU(), Dense(1)))(x)
    kernel_fn(serial(Dense(4), ReLU(), *block, Dense(1)))(x)  # a Dense after it is fine


def test_correlated_branches_cannot_be_summed():
    x = randn(3, 4, seed=6)
    lay = serial(Dense(4), FanOut(2), parallel(Identity(), Identity()), FanInSum(), Dense(1))
    with pytest.raises(ValueError, match=r"branches \[0, 1\] have no zero-mean linear layer"):
        kernel_fn(lay)(x)
    torch.manual_seed(0)
    net = build_net(lay, (4,))  # the finite net exists (it is 2x), only the kernel rule fails
    assert net(x.float()).shape == (3, 1)


def test_activation_right_after_flatten_raises():
    """Flattened features have position-dependent variances: ReLU(Flatten(·)) has no closed form
    in one per-feature state; GlobalAvgPool's output (one Gaussian per channel) is fine."""
    x = randn(2, 1, 4, 4, seed=7)
    with pytest.raises(ValueError, match=r"needs Gaussian pre-activations.*Flatten"):
        kernel_fn(serial(Conv(2), Flatten(), ReLU(), Dense(1)))(x)
    kernel_fn(serial(Conv(2), GlobalAvgPool(), ReLU(), Dense(1)))(x)

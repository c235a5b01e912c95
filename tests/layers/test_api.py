"""The public API: twins, ready-made lists, branches, layouts and identities between layers."""

from __future__ import annotations

import math

import pytest
import torch

from nvk.kernels import fc_ntk, h_gamma_exponential
from nvk.layers import (
    AvgPool,
    Conv,
    Dense,
    ExpMap,
    FanInSum,
    FanOut,
    Flatten,
    GlobalAvgPool,
    ReLU,
    cnn,
    kernel_fn,
    mlp,
    myrtle5,
    parallel,
    resnet_small,
    serial,
    twins,
)
from tests.kernels.conftest import assert_psd, randn


def test_twins_give_a_network_and_its_kernel():
    net, k = twins(mlp(3, 32, out=2, b_std=0.1), in_shape=(5,), seed=0)
    x, z = randn(4, 5, seed=0).float(), randn(3, 5, seed=1).float()
    assert net(x).shape == (4, 2)
    K = k(x, z)
    assert K.shape == (4, 3) and K.dtype == torch.float64  # float64 whatever the inputs
    torch.testing.assert_close(K, fc_ntk(x.double(), z.double(), depth=3, bias=0.1))
    net2, _ = twins(mlp(3, 32, out=2, b_std=0.1), in_shape=(5,), seed=0)
    torch.testing.assert_close(net2(x), net(x), rtol=0, atol=0)  # the seed fixes the net


@pytest.mark.parametrize(
    ("make", "in_shape"),
    [(lambda: myrtle5(8, out=10), (3, 8, 8)), (lambda: resnet_small(2, 8, out=3), (2, 6, 6))],
    ids=["myrtle5", "resnet_small"],
)
def test_ready_made_image_lists_run_both_faces(make, in_shape):
    layers = make()
    net, k = twins(layers, in_shape=in_shape, seed=1)
    x = randn(5, *in_shape, seed=2)
    out = net(x.float())
    assert out.shape == (5, layers.layers[-1].out)
    assert_psd(k(x))
    assert layers.needs_full_layout()  # pooling: the full layout
    torch.testing.assert_close(k(x.flatten(1)), k(x))  # flattened rows with in_shape


def test_myrtle_gap_equals_three_2x2_avg_pools_on_8x8():
    """Shankar et al.'s Myrtle ends 32×32 inputs with AvgPool(2) ×3 from 8×8; GAP is the same."""
    x = randn(3, 1, 8, 8, seed=3)
    head = [Conv(4, 3), ReLU()]
    pools = kernel_fn(serial(*head, AvgPool(2), AvgPool(2), AvgPool(2), Flatten(), Dense(1, 1.0)))
    gap = kernel_fn(serial(*head, GlobalAvgPool(), Dense(1, 1.0)))
    torch.testing.assert_close(pools(x), gap(x), rtol=1e-12, atol=0)


def test_expmap_on_vectors_is_the_homogeneous_exponential_kernel():
    x, z = randn(4, 6, seed=4), randn(3, 6, seed=5)
    for c, gamma in ((1.0, 1.0), (0.5, 2.0), (2.0, 0.7)):
        k = kernel_fn(serial(ExpMap(c, gamma), Dense(1, W_std=math.sqrt(6))))
        ref = h_gamma_exponential(x, z, c=c, gamma=gamma)
        torch.testing.assert_close(k(x, z, get="nngp"), ref, rtol=1e-12, atol=1e-14)


def test_flatten_of_raw_images_is_the_vector_input_kernel():
    x, z = randn(3, 2, 3, 4, seed=6), randn(2, 2, 3, 4, seed=7)
    on_images = kernel_fn(serial(Flatten(), mlp(3, 8, b_std=0.2)))
    on_rows = kernel_fn(mlp(3, 8, b_std=0.2))
    for layout in ("diag", "full"):
        got = on_images(x, z, layout=layout)
        torch.testing.assert_close(got, on_rows(x.flatten(1), z.flatten(1)), rtol=1e-13, atol=0)


def test_branch_kernels_add():
    """n Dense branches with their own weights: Σ' = n σ² Σ, Θ' = n σ² (Σ + Θ)."""
    x = randn(4, 5, seed=8)
    one = kernel_fn(serial(Dense(8), ReLU(), Dense(8)))
    three = kernel_fn(
        serial(Dense(8), ReLU(), FanOut(3), parallel(Dense(8), Dense(8), Dense(8)), FanInSum())
    )
    for get in ("nngp", "ntk"):
        torch.testing.assert_close(three(x, get=get), 3 * one(x, get=get), rtol=1e-14, atol=0)


def test_standard_parameterization_has_the_same_nngp_and_a_width_dependent_ntk():
    x = randn(4, 5, seed=9)
    ntk_par = kernel_fn(mlp(3, 64, b_std=0.3))
    narrow = kernel_fn(mlp(3, 64, b_std=0.3, parameterization="standard"))
    wide = kernel_fn(mlp(3, 256, b_std=0.3, parameterization="standard"))
    torch.testing.assert_close(narrow(x, get="nngp"), ntk_par(x, get="nngp"))
    assert float((wide(x) - narrow(x)).abs().max()) > 1.0  # grows with the hidden width


def test_image_conv_widths_and_shapes_are_tracked():
    lay = serial(Conv(5, 3, stride=2, padding="same"), ReLU(), Conv(7, 2, padding="valid"))
    assert lay.out_shape((3, 9, 9)) == (7, 4, 4)  # ⌈9/2⌉ = 5, then 5 − 2 + 1 = 4
    assert AvgPool(3, 2, padding=1).out_shape((7, 4, 4)) == (7, 2, 2)
    assert cnn(2, 4).out_shape((1, 4, 4)) == (1,)
    assert "Conv(out_channels=5" in repr(lay) and repr(ReLU()) == "ReLU()"

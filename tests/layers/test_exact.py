"""Layer lists reproduce today's kernels and networks exactly (float64).

Kernels: `mlp` vs `nvk.kernels.fc_ntk`/`fc_nngp`, `cnn` vs `nvk.kernels.cntk`, `cexp` vs
`nvk.kernels.cexp`, max abs difference ≤ 1e-12 (measured: FC ≤ 2.7e-15; CNTK ≤ 4.4e-16 on
values ≤ 3; C-Exp ≤ 2.3e-13 on trace values ≤ 610, i.e. ≤ 4e-16 relative, and ≤ 2.7e-15 for
GAP). The same-position shortcut equals the full layout wherever both apply (measured diff
1.1e-16). Networks: `build_net(mlp/cnn)` equals `nvk.nets.MLP`/`CNN` with the same parameters.
"""

from __future__ import annotations

import pytest
import torch

from nvk.arch import ArchSpec, ConvSpec
from nvk.kernels import cexp as cexp_kernel
from nvk.kernels import cntk, fc_nngp, fc_ntk
from nvk.layers import (
    AvgPool,
    Conv,
    Dense,
    Erf,
    Flatten,
    LeakyReLU,
    ReLU,
    build_net,
    cexp,
    cnn,
    cnn_from_spec,
    kernel_fn,
    mlp,
    mlp_from_arch,
    resnet_small,
    serial,
)
from nvk.nets import CNN, MLP
from tests.kernels.conftest import randn

ATOL = 1e-12


def _vectors() -> tuple[torch.Tensor, torch.Tensor]:
    x, z = randn(6, 5, seed=1), randn(4, 5, seed=2)
    x[0] = 0.0  # a zero row (fc.py's convention: NNGP 0, NTK β² with zero-init bias)
    z[1] = 3 * x[2]  # parallel rows: ρ = 1 across the two sets
    return x, z


def _images(n: int, seed: int) -> torch.Tensor:
    x = randn(n, 3, 8, 8, seed=seed)
    x[0, :, :3] = 0.0  # zero positions, whole zero 3×3 patches
    return x


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
@pytest.mark.parametrize("bias", [0.0, 0.5])
@pytest.mark.parametrize("bias_init", ["zero", "gaussian"])
def test_mlp_list_equals_fc_kernels(depth, bias, bias_init):
    x, z = _vectors()
    k = kernel_fn(mlp(depth, 8, b_std=bias, bias_init=bias_init))
    kw = dict(depth=depth, bias=bias, bias_init=bias_init)
    for a, b in ((x, z), (x, None)):  # cross pairs and a Gram matrix (x2 = x1)
        ntk = (k(a, b, get="ntk") - fc_ntk(a, b, **kw)).abs().max()
        nngp = (k(a, b, get="nngp") - fc_nngp(a, b, **kw)).abs().max()
        assert float(ntk) <= ATOL and float(nngp) <= ATOL


def test_mlp_list_equals_fc_kernels_with_other_sigma_w():
    x, z = _vectors()
    k = kernel_fn(mlp(3, 8, W_std=1.3, b_std=0.2, bias_init="gaussian"))
    ref = fc_ntk(x, z, depth=3, sigma_w=1.3, bias=0.2, bias_init="gaussian")
    assert float((k(x, z) - ref).abs().max()) <= ATOL


@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("readout", ["trace", "gap"])
def test_cnn_list_equals_cntk(depth, readout):
    x, z = _images(3, seed=3), _images(2, seed=4)
    k = kernel_fn(cnn(depth, 4, "flatten" if readout == "trace" else "gap"))
    for a, b in ((x, z), (x, None)):
        ref = cntk(a, b, depth=depth, readout=readout)
        assert float((k(a, b) - ref).abs().max()) <= ATOL
        ref = cntk(a, b, depth=depth, readout=readout, method="full")
        assert float((k(a, b, get="ntk") - ref).abs().max()) <= ATOL


@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("gamma", [1.0, 2.0, 0.5])
@pytest.mark.parametrize("readout", ["trace", "gap"])
def test_cexp_list_equals_cexp_kernel(depth, gamma, readout):
    x, z = _images(3, seed=5), _images(2, seed=6)
    k = kernel_fn(cexp(depth, c=0.8, gamma=gamma, readout=readout, in_shape=(3, 8, 8)))
    ref = cexp_kernel(x, z, depth=depth, c=0.8, gamma=gamma, readout=readout)
    assert float((k(x, z, get="nngp") - ref).abs().max()) <= ATOL


@pytest.mark.parametrize(
    "layers",
    [
        cnn(3, 4, "flatten"),
        serial(
            Conv(4, 3, stride=2, padding="valid", b_std=0.3),
            LeakyReLU(0.2),
            Conv(4, 2, padding="same", b_std=0.1, bias_init="gaussian"),
            Erf(0.5),
            Conv(4, 3, padding=2, parameterization="standard"),
            ReLU(),
            Flatten(),
            Dense(1, 1.0),
        ),
    ],
    ids=["cnn", "strided_valid_bias_standard"],
)
def test_same_position_shortcut_equals_full_layout(layers):
    x, z = _images(3, seed=7), _images(2, seed=8)
    k = kernel_fn(layers)
    for get in ("ntk", "nngp"):
        fast, full = k(x, z, get=get, layout="diag"), k(x, z, get=get, layout="full")
        torch.testing.assert_close(fast, full, rtol=1e-12, atol=1e-12 * float(full.abs().max()))
        torch.testing.assert_close(k(x, z, get=get), fast, rtol=0, atol=0)  # auto picks diag


def test_auto_layout_is_full_when_the_list_pools():
    x = _images(2, seed=9)
    lay = serial(Conv(4, 3), ReLU(), AvgPool(2), Conv(4, 3), ReLU(), Flatten(), Dense(1, 1.0))
    assert lay.needs_full_layout() and not cnn(2, 4).needs_full_layout()
    torch.testing.assert_close(kernel_fn(lay)(x), kernel_fn(lay)(x, layout="full"))


@pytest.mark.parametrize(
    "arch",
    [
        ArchSpec(depth=3, width=16, bias=0.5, bias_init="gaussian"),
        ArchSpec(depth=2, width=16, bias=0.3, bias_init="zero", parameterization="standard"),
        ArchSpec(depth=1, width=16),
    ],
)
def test_mlp_net_equals_nvk_mlp(arch):
    x = randn(5, 7, seed=10)
    torch.manual_seed(0)
    ref = MLP(arch, 7, 3).double()
    net = build_net(mlp_from_arch(arch, 3), (7,)).double()
    with torch.no_grad():  # copy the parameters across (same names up to the container)
        for p_net, p_ref in zip(net.parameters(), ref.parameters(), strict=True):
            p_net.copy_(p_ref)
    torch.testing.assert_close(net(x), ref(x), rtol=0, atol=0)
    torch.manual_seed(0)  # the same draw order: the same parameters from one seed
    torch.testing.assert_close(build_net(mlp_from_arch(arch, 3), (7,)).double()(x), ref(x))


@pytest.mark.parametrize("readout", ["flatten", "gap"])
@pytest.mark.parametrize("parameterization", ["ntk", "standard"])
def test_cnn_net_equals_nvk_cnn(readout, parameterization):
    spec = ConvSpec(depth=2, channels=8, readout=readout, parameterization=parameterization)
    x = randn(3, 2, 5, 6, seed=11)
    torch.manual_seed(1)
    ref = CNN(spec, (2, 5, 6), 4).double()
    torch.manual_seed(2)  # other parameters, then copied across
    net = build_net(cnn_from_spec(spec, 4), (2, 5, 6)).double()
    assert [p.shape for p in net.parameters()] == [p.shape for p in ref.parameters()]
    with torch.no_grad():
        for p_net, p_ref in zip(net.parameters(), ref.parameters(), strict=True):
            p_net.copy_(p_ref)
    torch.testing.assert_close(net(x), ref(x), rtol=0, atol=0)
    torch.testing.assert_close(net(x.flatten(1)), ref(x), rtol=0, atol=0)  # flattened rows


def test_gram_is_symmetric_with_exact_diagonal_and_blocks_agree():
    x = _images(5, seed=12)
    k = kernel_fn(resnet_small(1, 4))
    K = k(x)
    torch.testing.assert_close(K, K.T, rtol=0, atol=1e-14 * float(K.abs().max()))
    assert float(torch.linalg.eigvalsh(K).min()) >= -1e-12 * float(K.abs().max())
    torch.testing.assert_close(k(x, block=2), K, rtol=1e-13, atol=0)
    z = _images(3, seed=13)
    torch.testing.assert_close(k(x, z, block=2), k(x, z), rtol=1e-13, atol=0)


@pytest.mark.parametrize("parameterization", ["ntk", "standard"])
@pytest.mark.parametrize("bias_init", ["zero", "gaussian"])
def test_conv_covering_the_image_equals_dense_on_flattened_inputs(parameterization, bias_init):
    """Conv(n, k = H = W, "valid") → (n, 1, 1) is Dense on the flattened image: both faces,
    biases and both parameterizations (pins Conv's bias and standard-NTK terms exactly)."""
    kw = dict(b_std=0.4, bias_init=bias_init, parameterization=parameterization)
    x, z = randn(4, 2, 3, 3, seed=14), randn(3, 2, 3, 3, seed=15)
    conv = serial(Conv(6, 3, padding="valid", W_std=1.2, **kw), ReLU(),
                  Conv(6, 1, W_std=1.1, **kw), ReLU(), Flatten(), Dense(1, 1.0, **kw))  # fmt: skip
    dense = serial(Dense(6, 1.2, **kw), ReLU(), Dense(6, 1.1, **kw), ReLU(), Dense(1, 1.0, **kw))
    kc, kd = kernel_fn(conv), kernel_fn(dense)
    for get in ("ntk", "nngp"):
        ref = kd(x.flatten(1), z.flatten(1), get=get)
        for layout in ("diag", "full"):
            got = kc(x, z, get=get, layout=layout)
            torch.testing.assert_close(got, ref, rtol=1e-13, atol=1e-13)
    torch.manual_seed(3)
    net_c = build_net(conv, (2, 3, 3)).double()
    torch.manual_seed(3)  # same draw order and sizes: W (6, 2, 3, 3) ≅ W (6, 18)
    net_d = build_net(dense, (18,)).double()
    torch.testing.assert_close(net_c(x), net_d(x.flatten(1)), rtol=1e-12, atol=1e-12)

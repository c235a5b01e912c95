"""CNTK and C-Exp (nvk.kernels.conv): fast path = full-covariance reference, the depth-1 C-Exp
identity against a naive patch loop, PSD Gram matrices, Monte Carlo agreement with the wide CNN,
flattened rows, batch dimensions, errors, CUDA = CPU."""

from __future__ import annotations

import functools

import pytest
import torch
import torch.nn.functional as F

from nvk.arch import ConvSpec
from nvk.kernels import cexp, cntk, cntk_from_arch, gram, monte_carlo_kernel
from nvk.nets import CNN
from tests.kernels.conftest import assert_psd, randn, rel_fro


def _images(n: int, c: int = 2, h: int = 5, w: int = 6, seed: int = 0) -> torch.Tensor:
    x = randn(n, c, h, w, seed=seed)
    x[0, :, :2, :] = 0.0  # zero rows: positions whose whole 3x3 patch is zero
    return x


@pytest.mark.parametrize("depth", [1, 2, 4])
@pytest.mark.parametrize(
    "kernel",
    [
        functools.partial(cntk),
        functools.partial(cntk, sigma_w=1.3),
        functools.partial(cexp, gamma=1.0, c=0.7),
        functools.partial(cexp, gamma=2.0),
        functools.partial(cexp, gamma=1.5, c=2.0),
    ],
    ids=["cntk", "cntk_sigma", "c_laplace", "c_gaussian", "c_gamma_exp"],
)
def test_fast_trace_path_equals_full_covariance_reference(kernel, depth):
    x, z = _images(4, seed=1), _images(3, seed=2)
    fast = kernel(x, z, depth=depth, method="fast")
    full = kernel(x, z, depth=depth, method="full")
    assert fast.shape == (4, 3)
    torch.testing.assert_close(fast, full, rtol=1e-10, atol=1e-10 * float(full.abs().max()))


def _naive_cexp_depth1(x: torch.Tensor, z: torch.Tensor, c: float, gamma: float) -> torch.Tensor:
    """Σ_p ‖x_p‖‖z_p‖ exp(−c ‖x̂_p − ẑ_p‖^γ) over zero-padded 3×3×C patches, by loops."""
    px = F.unfold(x, 3, padding=1).transpose(1, 2)  # (N, P, 9C)
    pz = F.unfold(z, 3, padding=1).transpose(1, 2)
    out = torch.zeros(len(x), len(z), dtype=x.dtype)
    for i in range(len(x)):
        for j in range(len(z)):
            for p in range(px.shape[1]):
                a, b = px[i, p], pz[j, p]
                na, nb = a.norm(), b.norm()
                if na == 0 or nb == 0:
                    continue
                out[i, j] += na * nb * torch.exp(-c * (a / na - b / nb).norm() ** gamma)
    return out


@pytest.mark.parametrize(("c", "gamma"), [(1.0, 1.0), (0.5, 2.0), (2.0, 1.3)])
@pytest.mark.parametrize("method", ["fast", "full"])
def test_cexp_depth1_trace_is_sum_over_patches_of_homogeneous_exponential(c, gamma, method):
    x, z = _images(3, seed=3), _images(2, seed=4)
    got = cexp(x, z, depth=1, c=c, gamma=gamma, method=method)
    ref = _naive_cexp_depth1(x, z, c, gamma)
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12 * float(ref.abs().max()))


@pytest.mark.parametrize("gamma", [1.0, 2.0, 0.7])
@pytest.mark.parametrize("readout", ["trace", "gap"])
def test_cexp_gram_is_symmetric_psd(gamma, readout):
    x = _images(8, c=2, h=3, w=4, seed=5)
    x[3] = x[2]  # a repeated image: a singular but still PSD Gram matrix
    K = gram(functools.partial(cexp, depth=3, gamma=gamma, readout=readout), x, tile=5)
    assert_psd(K)
    direct = cexp(x, depth=3, gamma=gamma, readout=readout)
    torch.testing.assert_close(K, direct, rtol=1e-12, atol=1e-12 * float(direct.abs().max()))


def test_cntk_gram_is_symmetric_psd_and_gap_differs_from_trace():
    x = _images(10, c=1, h=4, w=5, seed=6)
    K = cntk(x, depth=3)
    assert_psd(K)
    G = cntk(x, depth=3, readout="gap")
    assert_psd(G)
    assert rel_fro(G, K) > 1e-3  # pooling couples positions: a different kernel


def test_cntk_equals_monte_carlo_empirical_ntk_of_wide_cnn():
    """Arora et al. 2019: the empirical NTK of the CNN converges to the CNTK as channels → ∞."""
    spec = ConvSpec(depth=2, channels=256)
    x = randn(4, 1, 3, 3, seed=7)
    mc = monte_carlo_kernel(lambda seed: CNN(spec, (1, 3, 3), 1), x, seeds=range(6))
    k = cntk_from_arch(spec)(x)
    assert rel_fro(mc, k) < 0.05  # measured 0.021 (fixed seeds)


@pytest.mark.slow
def test_cntk_gap_equals_monte_carlo_empirical_ntk_of_wide_cnn_with_pooling():
    spec = ConvSpec(depth=3, channels=512, readout="gap")
    x = randn(4, 2, 4, 4, seed=8)
    mc = monte_carlo_kernel(lambda seed: CNN(spec, (2, 4, 4), 1), x, seeds=range(8))
    assert rel_fro(mc, cntk_from_arch(spec)(x)) < 0.05


def test_flattened_rows_with_image_shape_and_batch_dims_match_images():
    x, z = _images(3, seed=9), _images(2, seed=10)
    k = cntk(x, z, depth=2)
    flat = cntk(x.flatten(1), z.flatten(1), depth=2, image_shape=(2, 5, 6))
    torch.testing.assert_close(flat, k, rtol=1e-14, atol=0)
    xb, zb = torch.stack([x, 2 * x]), torch.stack([z, z])  # (2, N, C, H, W)
    kb = cexp(xb, zb, depth=2)
    assert kb.shape == (2, 3, 2)
    torch.testing.assert_close(kb[1], cexp(2 * x, z, depth=2), rtol=1e-13, atol=0)


def test_gram_binds_image_shape_for_image_tensors():
    x = _images(5, seed=11)
    K = gram(functools.partial(cntk, depth=2), x, tile=2)
    torch.testing.assert_close(K, cntk(x, depth=2), rtol=1e-12, atol=0)


def test_float32_close_to_float64():
    x = _images(4, seed=12)
    k64 = cntk(x, depth=5)
    k32 = cntk(x.float(), depth=5)
    assert k32.dtype == torch.float32
    assert rel_fro(k32.double(), k64) < 1e-5


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"depth": 0}, "depth"),
        ({"readout": "max"}, "readout"),
        ({"method": "fast", "readout": "gap"}, "fast"),
        ({"method": "quick"}, "method"),
        ({"sigma_w": -1.0}, "sigma_w"),
    ],
)
def test_bad_cntk_arguments_raise_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        cntk(_images(2), **kwargs)


def test_bad_inputs_raise_value_error_naming_the_fix():
    x = _images(2)
    with pytest.raises(ValueError, match="image_shape"):
        cntk(x.flatten(1))
    with pytest.raises(ValueError, match=r"expected \(\.\.\., N, 60\)"):
        cexp(x.flatten(1)[:, :50], image_shape=(2, 5, 6))
    with pytest.raises(ValueError, match="image shapes differ"):
        cexp(x, _images(2, h=4))
    with pytest.raises(ValueError, match="gamma"):
        cexp(x, gamma=2.5)
    bad = x.clone()
    bad[1, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="non-finite"):
        cntk(bad)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("kernel", [cntk, functools.partial(cexp, gamma=1.0)])
def test_cuda_equals_cpu(kernel):
    x, z = _images(6, c=3, h=8, w=8, seed=13), _images(5, c=3, h=8, w=8, seed=14)
    cpu = kernel(x, z, depth=4)
    gpu = kernel(x.cuda(), z.cuda(), depth=4)
    assert gpu.is_cuda
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-10, atol=1e-10 * float(cpu.abs().max()))
    tiled = gram(functools.partial(kernel, depth=4), x, z, tile=4, device="cuda")
    torch.testing.assert_close(tiled, cpu, rtol=1e-10, atol=1e-10 * float(cpu.abs().max()))

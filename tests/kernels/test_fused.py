"""The fused recursions (nvk.kernels.fused, issue 20) equal the eager references to 1e-12 in
float64: the FC NNGP/NTK (`fc_recursion`), the CNTK and C-Exp fast paths
(`conv._cntk_fast_layers`, `conv._cexp_fast`) and, through them, the full-covariance
reference; written out as expressions (compile=False) and compiled by torch.compile (or its
eager fallback where compilation is unavailable); and the public kernels dispatch to them."""

from __future__ import annotations

import importlib
import logging

import pytest
import torch

from nvk.kernels import (
    cexp,
    cntk,
    conv,
    fc_nngp,
    fc_ntk,
    fused,
    gamma_exponential,
    gaussian,
    h_gamma_exponential,
    h_laplace,
    laplace,
)
from nvk.kernels.fc import _products
from nvk.kernels.fused import cexp_fast_fused, cntk_fast_fused, compiled, fc_recursion_fused


def _inputs(n: int, m: int, d: int = 7, zero_rows: bool = False) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(n + m)
    x1 = torch.randn(n, d, generator=g, dtype=torch.float64)
    x2 = torch.randn(m, d, generator=g, dtype=torch.float64)
    x2[:3] = x1[:3]  # identical rows: ρ = 1
    x2[3] = -x1[3]  # opposite rows: ρ = −1
    if zero_rows:
        x1[5], x2[6] = 0.0, 0.0
    return x1, x2


def _reference(x1, x2, *, frozen: int, **kw) -> tuple[torch.Tensor, torch.Tensor]:
    return fc_nngp(x1, x2, **kw), fc_ntk(x1, x2, frozen_layers=frozen, **kw)


@pytest.mark.parametrize("depth", [1, 2, 3, 6])
@pytest.mark.parametrize("frozen", [0, 1, "last"])
@pytest.mark.parametrize("bias,bias_init", [(0.0, "zero"), (0.3, "zero"), (0.3, "gaussian")])
def test_fused_expressions_equal_the_eager_recursion(depth, frozen, bias, bias_init) -> None:
    frozen = depth - 1 if frozen == "last" else frozen
    if frozen >= depth:
        pytest.skip("frozen < depth")
    x1, x2 = _inputs(40, 30, zero_rows=bias_init == "zero")
    kw = dict(depth=depth, bias=bias, bias_init=bias_init, sigma_w=1.3, frozen=frozen)
    ref_nngp, ref_ntk = _reference(x1, x2, **kw)
    bg = bias if bias_init == "gaussian" else 0.0
    p = _products(x1, x2)
    with torch.no_grad():
        nngp, ntk = fc_recursion_fused(*p, depth, frozen, 1.3, bias, bg, compile=False)
        only_ntk = fc_recursion_fused(*p, depth, frozen, 1.3, bias, bg, out="ntk", compile=False)
        only_nngp = fc_recursion_fused(*p, depth, frozen, 1.3, bias, bg, out="nngp", compile=False)
    torch.testing.assert_close(nngp, ref_nngp, rtol=0, atol=1e-12)
    torch.testing.assert_close(ntk, ref_ntk, rtol=0, atol=1e-12)
    assert only_ntk[0] is None and torch.equal(only_ntk[1], ntk)
    assert only_nngp[1] is None and torch.equal(only_nngp[0], nngp)


def test_compiled_fused_recursion_equals_the_eager_one() -> None:
    """Inductor's single loop (or the eager fallback) on two tile shapes (dynamic shapes), both
    outputs and the NTK alone (what `fc_ntk` asks for)."""
    for n, m in ((64, 48), (33, 70)):
        x1, x2 = _inputs(n, m, d=32, zero_rows=True)
        ref_nngp, ref_ntk = _reference(x1, x2, depth=6, bias=0.2, bias_init="zero", frozen=0)
        p = _products(x1, x2)
        with torch.no_grad():
            nngp, ntk = fc_recursion_fused(*p, 6, 0, 2**0.5, 0.2, 0.0)
            alone = fc_recursion_fused(*p, 6, 0, 2**0.5, 0.2, 0.0, out="ntk")[1]
        torch.testing.assert_close(nngp, ref_nngp, rtol=0, atol=1e-12)
        torch.testing.assert_close(ntk, ref_ntk, rtol=0, atol=1e-12)
        torch.testing.assert_close(alone, ref_ntk, rtol=0, atol=1e-12)


def test_fused_rejects_unknown_output() -> None:
    with pytest.raises(ValueError, match="'both', 'ntk' or 'nngp'"):
        fc_recursion_fused(*_products(*_inputs(8, 8)), 3, 0, 1.0, 0.0, 0.0, out="ntkk")


def _spy(monkeypatch, name: str, module=fused) -> list[int]:
    """Count the calls of `module.name` (one entry per call)."""
    calls: list[int] = []
    real = getattr(module, name)

    def wrapped(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapped)
    return calls


def test_fc_kernels_dispatch_large_no_grad_calls_to_the_fused_path(monkeypatch) -> None:
    x1, x2 = _inputs(50, 40, d=9, zero_rows=True)
    kw = dict(depth=4, bias=0.5, bias_init="gaussian", sigma_w=1.1)
    monkeypatch.setenv("NVK_COMPILE", "0")
    ref = fc_ntk(x1, x2, frozen_layers=1, **kw), fc_nngp(x1, x2, **kw)
    monkeypatch.delenv("NVK_COMPILE")
    calls = _spy(monkeypatch, "fc_recursion_fused")
    assert fused.FUSED_MIN_ENTRIES > 50 * 40  # small calls stay eager
    fc_ntk(x1, x2, frozen_layers=1, **kw)
    assert not calls
    monkeypatch.setattr(fused, "FUSED_MIN_ENTRIES", 0)
    out = fc_ntk(x1, x2, frozen_layers=1, **kw), fc_nngp(x1, x2, **kw)
    assert len(calls) == 2
    for a, b in zip(out, ref, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    x1.requires_grad_(True)  # gradients: the eager path (custom gradients at |ρ| = 1)
    fc_ntk(x1, x2, frozen_layers=1, **kw).sum().backward()
    assert len(calls) == 2 and x1.grad is not None and torch.isfinite(x1.grad).all()


# -- the exponential family -------------------------------------------------------------------
EXP = [
    ("laplace", lambda a, b: laplace(a, b, c=0.7)),
    ("gaussian", lambda a, b: gaussian(a, b, c=0.7)),
    ("gamma_exp", lambda a, b: gamma_exponential(a, b, c=0.7, gamma=1.5)),
    ("h_laplace", lambda a, b: h_laplace(a, b, c=0.7)),
    ("h_gamma_exp", lambda a, b: h_gamma_exponential(a, b, c=0.7, gamma=1.5)),
]


@pytest.mark.parametrize("name,kernel", EXP, ids=[e[0] for e in EXP])
def test_exponential_kernels_fused_tail_equals_the_eager_path(monkeypatch, name, kernel) -> None:
    """Cross (with a duplicated row: distance 0 off the diagonal) and symmetric (x2 = None:
    the exact diagonal) calls, zero rows for the H-forms."""
    x1, x2 = _inputs(40, 30, zero_rows=name.startswith("h_"))
    monkeypatch.setenv("NVK_COMPILE", "0")
    ref = kernel(x1, x2), kernel(x1, None)
    monkeypatch.delenv("NVK_COMPILE")
    monkeypatch.setattr(fused, "FUSED_MIN_ENTRIES", 0)
    calls = _spy(monkeypatch, "exp_tail")
    out = kernel(x1, x2), kernel(x1, None)
    assert len(calls) == 2
    for a, b in zip(out, ref, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    assert torch.equal(out[1].diagonal(), ref[1].diagonal())


# -- composed layer lists on vectors ------------------------------------------------------------
def _lists():
    from nvk import layers as L

    res = L.serial(
        L.Dense(64, b_std=0.2), L.FanOut(2),
        L.parallel(L.serial(L.LeakyReLU(0.1), L.Dense(64)), L.Identity()), L.FanInSum(),
        L.ReLU(), L.Dense(1, W_std=1.0),
    )  # fmt: skip
    return {"erf_mlp": L.mlp(3, activation="erf"), "relu_mlp": L.mlp(4, b_std=0.3), "resnet": res}


@pytest.mark.parametrize(
    "name", ["erf_mlp", "resnet", pytest.param("relu_mlp", marks=pytest.mark.slow)]
)
def test_composed_vector_lists_compiled_equal_eager(monkeypatch, name) -> None:
    """`kernel_fn` on vectors runs the whole list compiled for large no-grad calls (one loop per
    tile); equal to the eager transitions (zero rows included), NTK and NNGP. (The ReLU MLP's
    kernel models dispatch to `fc_ntk`; its composed compile, ~30 s, runs in the slow suite.)"""
    from nvk import layers as L

    twins = importlib.import_module("nvk.layers.twins")  # the module (`twins` is also a function)

    kf = L.kernel_fn(_lists()[name])
    x1, x2 = _inputs(40, 30, zero_rows=True)
    monkeypatch.setenv("NVK_COMPILE", "0")
    ref = [kf(x1, x2, get=g) for g in ("ntk", "nngp")] + [kf(x1, get="ntk")]
    monkeypatch.delenv("NVK_COMPILE")
    monkeypatch.setattr(fused, "FUSED_MIN_ENTRIES", 0)
    calls = _spy(monkeypatch, "_vector_kernel_compiled", twins)
    out = [kf(x1, x2, get=g) for g in ("ntk", "nngp")] + [kf(x1, get="ntk")]
    assert len(calls) == 3
    for a, b in zip(out, ref, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


# -- images -----------------------------------------------------------------------------------
def _images(n: int, m: int, c: int = 2, h: int = 5, w: int = 6) -> tuple[torch.Tensor, ...]:
    """Non-square images with an all-zero image, an image with a zero region (patches of zero
    variance), a repeated and a negated image (ρ = ±1)."""
    g = torch.Generator().manual_seed(7)
    x = torch.randn(n, c, h, w, generator=g, dtype=torch.float64)
    z = torch.randn(m, c, h, w, generator=g, dtype=torch.float64)
    x[0] = 0.0
    z[1, :, :3, :4] = 0.0
    z[2], z[3] = x[2], -x[3]
    return x, z


@pytest.mark.parametrize("compile", [False, True])
def test_fused_cntk_equals_the_eager_fast_path_and_the_full_reference(compile) -> None:
    x, z = _images(6, 5)
    for depth in (1, 2, 4):
        with torch.no_grad():
            out = cntk_fast_fused(x, z, depth, 1.2, compile=compile)
            eager = conv._cntk_fast_layers(x, z, depth, 1.2)
        torch.testing.assert_close(out, eager, rtol=0, atol=1e-12)
        full = cntk(x, z, depth=depth, sigma_w=1.2, method="full")
        torch.testing.assert_close(out, full, rtol=0, atol=1e-12)


@pytest.mark.parametrize("compile", [False, True])
def test_fused_cexp_equals_the_eager_fast_path_and_the_full_reference(compile) -> None:
    x, z = _images(6, 5)
    for gamma in (1.0, 2.0, 1.5):
        for depth in (1, 3):
            with torch.no_grad():
                out = cexp_fast_fused(x, z, depth, 0.7, gamma, compile=compile)
                eager = conv._cexp_fast(x, z, depth, 0.7, gamma)
            scale = eager.abs().max()
            torch.testing.assert_close(out / scale, eager / scale, rtol=0, atol=1e-12)
            full = cexp(x, z, depth=depth, c=0.7, gamma=gamma, method="full")
            torch.testing.assert_close(out / scale, full / scale, rtol=0, atol=1e-12)


def test_image_kernels_dispatch_large_calls_to_the_fused_path(monkeypatch) -> None:
    x, z = _images(9, 7)
    monkeypatch.setenv("NVK_COMPILE", "0")
    ref = cntk(x, z, depth=3), cexp(x, z, depth=2, gamma=1.0)
    monkeypatch.delenv("NVK_COMPILE")
    ccalls = _spy(monkeypatch, "cntk_fast_fused")
    ecalls = _spy(monkeypatch, "cexp_fast_fused")
    cntk(x, z, depth=3), cexp(x, z, depth=2, gamma=1.0)  # 63 pairs × 30 positions: eager
    assert not ccalls and not ecalls
    monkeypatch.setattr(fused, "FUSED_MIN_ENTRIES", 0)
    out = cntk(x, z, depth=3), cexp(x, z, depth=2, gamma=1.0)
    assert ccalls and ecalls
    torch.testing.assert_close(out[0], ref[0], rtol=0, atol=1e-12)
    torch.testing.assert_close(out[1] / ref[1].max(), ref[1] / ref[1].max(), rtol=0, atol=1e-12)


def test_float32_fused_cntk_error_against_float64() -> None:
    """Float32 stays within 1e-5 relative of float64 (docs/conv.md quotes the measured size)."""
    x, z = _images(6, 5, c=3, h=8, w=8)
    ref = cntk_fast_fused(x, z, 5, 2**0.5)
    out = cntk_fast_fused(x.float(), z.float(), 5, 2**0.5)
    assert out.dtype == torch.float32
    assert ((out.double() - ref).abs().max() / ref.abs().max()).item() < 1e-5


# -- compilation ------------------------------------------------------------------------------
def test_compile_failure_falls_back_to_eager_with_one_log_line(monkeypatch, caplog) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("no C++ compiler")

    monkeypatch.setattr(torch, "compile", lambda fn, **kw: broken)
    fn = compiled(lambda a: a * 2)
    with caplog.at_level(logging.WARNING, logger="nvk.kernels.fused"):
        outs = [fn(torch.ones(3)) for _ in range(3)]
    assert all(torch.equal(o, torch.full((3,), 2.0)) for o in outs)
    lines = [r for r in caplog.records if "torch.compile unavailable" in r.getMessage()]
    assert len(lines) == 1 and "no C++ compiler" in lines[0].getMessage()


def test_nvk_compile_0_runs_eager(monkeypatch) -> None:
    monkeypatch.setenv("NVK_COMPILE", "0")
    monkeypatch.setattr(torch, "compile", lambda fn, **kw: pytest.fail("compiled"))
    assert torch.equal(compiled(lambda a: a + 1)(torch.zeros(2)), torch.ones(2))
    assert not fused.use_fused(10**9, torch.zeros(2))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_fused_paths_equal_the_cpu_eager_ones(monkeypatch) -> None:
    """The same compiled functions as Triton kernels on a GPU (float64)."""
    monkeypatch.setattr(fused, "FUSED_MIN_ENTRIES", 0)
    x1, x2 = _inputs(50, 40, d=9, zero_rows=True)
    xi, zi = _images(6, 5)

    def all_kernels(a, b, x, z):
        return [fc_ntk(a, b, depth=5), cntk(x, z, depth=3), cexp(x, z, depth=3, gamma=1.5),
                laplace(a, b)]  # fmt: skip

    gpu = all_kernels(x1.cuda(), x2.cuda(), xi.cuda(), zi.cuda())
    monkeypatch.setenv("NVK_COMPILE", "0")
    cpu = all_kernels(x1, x2, xi, zi)
    for g, c in zip(gpu, cpu, strict=True):
        torch.testing.assert_close(g.cpu() / c.abs().max(), c / c.abs().max(), rtol=0, atol=1e-12)

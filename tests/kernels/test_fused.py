"""The fused FC recursion (nvk.kernels.fused, issue 20) equals the eager reference
(`fc_nngp`/`fc_ntk`) to 1e-12 in float64: written out as one expression chain, and compiled by
torch.compile (or its eager fallback where compilation is unavailable)."""

from __future__ import annotations

import logging

import pytest
import torch

from nvk.kernels import fc_nngp, fc_ntk
from nvk.kernels.fc import _products
from nvk.kernels.fused import compiled, fc_recursion_compiled, fc_recursion_fused


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
    with torch.no_grad():
        nngp, ntk = fc_recursion_fused(*_products(x1, x2), depth, frozen, 1.3, bias, bg)
    torch.testing.assert_close(nngp, ref_nngp, rtol=0, atol=1e-12)
    torch.testing.assert_close(ntk, ref_ntk, rtol=0, atol=1e-12)


def test_compiled_fused_recursion_equals_the_eager_one() -> None:
    """Inductor's single loop (or the eager fallback) on two tile shapes (dynamic shapes)."""
    for n, m in ((64, 48), (33, 70)):
        x1, x2 = _inputs(n, m, d=32)
        ref_nngp, ref_ntk = _reference(x1, x2, depth=6, bias=0.0, bias_init="zero", frozen=0)
        with torch.no_grad():
            nngp, ntk = fc_recursion_compiled(*_products(x1, x2), 6, 0, 2**0.5, 0.0, 0.0)
        torch.testing.assert_close(nngp, ref_nngp, rtol=0, atol=1e-12)
        torch.testing.assert_close(ntk, ref_ntk, rtol=0, atol=1e-12)


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

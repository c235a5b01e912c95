"""Fused kernel recursions: a whole tile's recursion (every layer, NTK and NNGP together) as one
straight-line elementwise function that `torch.compile` turns into a single loop (Inductor's
C++/OpenMP code on the CPU, Triton on CUDA), so each entry stays in registers through all layers
instead of being read and written by ~9 passes per layer (the memory-bound eager path).

The eager recursions (`nvk.kernels.fc.fc_recursion`) stay the reference: the functions here
compute the same formulas (module docstring of `nvk.kernels.fc`) and are tested equal to them to
1e-12 in float64. Where compilation is unavailable (no C++ compiler, an unsupported device,
`NVK_COMPILE=0`) `compiled` falls back to the eager function with one log line.
Work in progress (issue 20): not yet dispatched to by `fc_ntk`/`gram`.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable

import torch
from torch import Tensor

from nvk.kernels.fc import _TWO_PI

log = logging.getLogger(__name__)


def compile_enabled() -> bool:
    """False when the environment says NVK_COMPILE=0 (or false/no/off)."""
    return os.environ.get("NVK_COMPILE", "1").strip().lower() not in ("0", "false", "no", "off")


def compiled(fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """`fn` compiled with `torch.compile(dynamic=True)` on first call; the eager `fn` (one
    warning line, then silently) when compiling or running the compiled code fails."""
    state: dict[str, Callable[..., Tensor] | None] = {"fn": None}

    @functools.wraps(fn)
    def run(*args, **kwargs) -> Tensor:
        if state["fn"] is fn or not compile_enabled():
            return fn(*args, **kwargs)
        if state["fn"] is None:
            state["fn"] = torch.compile(fn, dynamic=True)
        try:
            return state["fn"](*args, **kwargs)
        except Exception as e:  # any backend failure: the eager path is exact
            log.warning("nvk: torch.compile unavailable for %s (%s); using eager", fn.__name__, e)
            state["fn"] = fn
            return fn(*args, **kwargs)

    return run


def fc_recursion_fused(
    p1: Tensor,
    p2: Tensor,
    p12: Tensor,
    depth: int,
    frozen: int,
    sigma_w: float,
    bias: float,
    bias_g: float,
) -> tuple[Tensor, Tensor]:
    """(NNGP Σ^L, NTK Θ^L) of the Core MLP for one depth L and `frozen` layers from the input
    products p1 = ‖x‖²/d (…, N, 1), p2 = ‖z‖²/d (…, 1, M), p12 = x·z/d (…, N, M); the formulas
    and conventions (zero rows, the 32-ulp snap of ρ) of `nvk.kernels.fc.fc_recursion`, written
    as one chain of elementwise expressions. No autograd (use the eager path for gradients)."""
    s2, b2, bg2 = sigma_w * sigma_w, bias * bias, bias_g * bias_g
    if depth == 1:
        return p12 + bg2, p12 + b2
    inv = 1.0 / (1.0 - 32 * torch.finfo(p12.dtype).eps)
    q1, q2 = s2 * p1 + bg2, s2 * p2 + bg2
    c = s2 * p12 + bg2
    acc = s2 * p12 + b2 if frozen == 0 else None
    nngp = ntk = c
    for h in range(2, depth + 1):
        pos1, pos2 = q1 > 0, q2 > 0
        r1 = torch.where(pos1, q1, 1.0).rsqrt() * pos1
        r2 = torch.where(pos2, q2, 1.0).rsqrt() * pos2
        rho = (c * (r1 * inv) * r2).clamp(-1.0, 1.0)
        j0 = torch.arccos(-rho)  # π − θ
        sq = (q1 * pos1).sqrt() * (q2 * pos2).sqrt() / _TWO_PI
        cc = (torch.sqrt(1.0 - rho * rho) + j0 * rho) * sq  # C^{h−1}
        dot = j0 * (pos1 & pos2) / _TWO_PI  # Ċ^{h−1} (0 at zero rows)
        if h == depth:  # readout (scale 1)
            nngp = cc + bg2
            ntk = (cc + acc * dot if acc is not None else cc) + b2
            break
        if acc is not None:
            acc = (acc * dot + cc) * s2 + b2
        if h - 1 == frozen:
            acc = cc * s2 + b2
        c = cc * s2 + bg2
        q1, q2 = s2 * q1 / 2 + bg2, s2 * q2 / 2 + bg2
    return nngp, ntk


fc_recursion_compiled = compiled(fc_recursion_fused)

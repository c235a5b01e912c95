"""Fused kernel recursions: a tile's whole FC recursion, or one CNTK / C-Exp layer, as one
straight-line elementwise function that `torch.compile` turns into a single loop (Inductor's
C++/OpenMP code on the CPU, Triton on CUDA), so each entry stays in registers through the
layer (FC: through all layers) instead of being read and written by ~9 passes per layer (the
memory-bound eager path).

What is computed where:
- per-row quantities (variances, their 1/√ and √, zero-row masks) are O(N + M) and computed
  eagerly, once per layer, and passed in: inside the loop they would cost an rsqrt and sqrt
  per entry;
- the FC recursion (`fc_recursion_fused`) is one function of all layers: every layer is
  elementwise in the (N, M) entries;
- the CNTK and C-Exp fast paths (`cntk_fast_fused`, `cexp_fast_fused`) need the 3×3 patch sum
  𝒫 between layers, which reads 9 neighbours: one compiled function per layer (𝒫 of the
  previous layer's output, then the layer's map), so the map's arccos/exp is not recomputed
  for every neighbour — Inductor would inline it into the stencil if all layers were one graph;
- the exponential family (`exp_tail`): everything after the matrix product in one loop;
- composed layer lists on vectors (`nvk.layers.twins`) compile their whole list with `compiled`.

The eager recursions (`nvk.kernels.fc.fc_recursion`, `nvk.kernels.conv`) stay the reference:
the functions here compute the same formulas (module docstrings there) and are tested equal to
them to 1e-12 in float64 (tests/kernels/test_fused.py). `fc_ntk`, `fc_nngp`, `cntk`, `cexp`,
the exponential kernels and `nvk.layers.kernel_fn` (vectors) dispatch here for problems of at
least `FUSED_MIN_ENTRIES` entries per layer when no gradient is needed (`use_fused`). Where
compilation is unavailable (no C++ compiler, an unsupported device) `compiled` falls back to
the eager expressions with one log line; `NVK_COMPILE=0` turns the fused path off.
"""

from __future__ import annotations

import functools
import logging
import os
import warnings
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from nvk.kernels._checks import TWO_PI, rsqrt0, snap

log = logging.getLogger(__name__)

FUSED_MIN_ENTRIES = 2**18
"""Entries per layer (N·M, or pairs × positions for images) from which the kernels dispatch
to the compiled path: below it a first call's compile (seconds) would not pay for itself."""


def compile_enabled() -> bool:
    """False when the environment says NVK_COMPILE=0 (or false/no/off)."""
    return os.environ.get("NVK_COMPILE", "1").strip().lower() not in ("0", "false", "no", "off")


def use_fused(entries: int, *tensors: Tensor) -> bool:
    """Whether a kernel call of `entries` entries per layer on `tensors` takes the fused path:
    compilation on, at least FUSED_MIN_ENTRIES entries, and no autograd through the inputs
    (the fused functions have no custom gradients at |ρ| = 1; the eager path has)."""
    if not compile_enabled() or entries < FUSED_MIN_ENTRIES:
        return False
    return not (torch.is_grad_enabled() and any(t.requires_grad for t in tensors))


def compiled(fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """`fn` compiled with `torch.compile` on first call; the eager `fn` (one warning line, then
    silently) when compiling or running the compiled code fails. Shapes are static at first and
    become dynamic where a later call changes them (Dynamo's automatic dynamic shapes): image
    sizes stay constants of the generated loops, tile and chunk sizes become symbols (one
    recompile), which measured faster than `dynamic=True` (all sizes symbolic)."""
    state: dict[str, Callable[..., Tensor] | None] = {"fn": None}

    @functools.wraps(fn)
    def run(*args, **kwargs) -> Tensor:
        if state["fn"] is fn or not compile_enabled():
            return fn(*args, **kwargs)
        if state["fn"] is None:
            # one graph per depth / frozen layers / output / dtype: allow more than Dynamo's 8
            cfg = torch._dynamo.config
            cfg.recompile_limit = max(cfg.recompile_limit, 64)
            state["fn"] = torch.compile(fn)
        try:
            with warnings.catch_warnings():  # torch-internal deprecation noise while compiling
                warnings.filterwarnings(
                    "ignore", message=r".*_prims_common\.check", category=FutureWarning
                )
                return state["fn"](*args, **kwargs)
        except Exception as e:  # any backend failure: the eager path is exact
            log.warning("nvk: torch.compile unavailable for %s (%s); using eager", fn.__name__, e)
            state["fn"] = fn
            return fn(*args, **kwargs)

    return run


def _coef(ref: Tensor, *values: float) -> Tensor:
    """Scalars as one small tensor: compiled code reads them instead of specializing (and
    recompiling) on every σ_w, β, c a user tries."""
    return torch.tensor(values, dtype=ref.dtype, device=ref.device)


# -- FC: the whole recursion in one loop -----------------------------------------------------
Rows = tuple[Tensor, Tensor, Tensor]  # (scaled 1/√q, scaled √q, scaled 1[q > 0]) of one layer


def _rows(q: Tensor, r: float, s: float, m: float) -> Rows:
    return rsqrt0(q) * r, q.sqrt() * s, (q > 0).to(q.dtype) * m


def fc_core(
    p12: Tensor,
    rows1: list[Rows],
    rows2: list[Rows],
    coef: Tensor,
    depth: int,
    frozen: int,
    out: str,
) -> tuple[Tensor | None, Tensor | None]:
    """The recursion of `nvk.kernels.fc` for depth ≥ 2 from p12 = x·z/d (…, N, M) and per-layer
    row factors (`fc_recursion_fused`); coef = (σ_w², β², β_g²). `out`: "both", "ntk", "nngp"
    (the other is None and not computed)."""
    s2, b2, bg2 = coef[0], coef[1], coef[2]
    c = s2 * p12 + bg2
    acc = s2 * p12 + b2 if frozen == 0 and out != "nngp" else None
    for i, h in enumerate(range(2, depth + 1)):
        (r1, sq1, m1), (r2, sq2, m2) = rows1[i], rows2[i]
        rho = (c * r1 * r2).clamp(-1.0, 1.0)
        j0 = torch.arccos(-rho)  # π − θ
        cc = (torch.sqrt(1.0 - rho * rho) + j0 * rho) * (sq1 * sq2)  # C^{h−1}
        dot = j0 * (m1 * m2)  # Ċ^{h−1} (0 at zero rows)
        if h == depth:  # readout (scale 1)
            nngp = cc + bg2 if out != "ntk" else None
            ntk = None
            if out != "nngp":
                ntk = (cc + acc * dot if acc is not None else cc) + b2
            return nngp, ntk
        if acc is not None:
            acc = (acc * dot + cc) * s2 + b2
        if h - 1 == frozen and out != "nngp":
            acc = cc * s2 + b2
        c = cc * s2 + bg2
    raise AssertionError("unreachable")


_fc_core_compiled = compiled(fc_core)


def fc_recursion_fused(
    p1: Tensor,
    p2: Tensor,
    p12: Tensor,
    depth: int,
    frozen: int,
    sigma_w: float,
    bias: float,
    bias_g: float,
    *,
    out: str = "both",
    compile: bool = True,
) -> tuple[Tensor | None, Tensor | None]:
    """(NNGP Σ^L, NTK Θ^L) of the Core MLP for one depth L and `frozen` layers from the input
    products p1 = ‖x‖²/d (…, N, 1), p2 = ‖z‖²/d (…, 1, M), p12 = x·z/d (…, N, M): the formulas
    and conventions (zero rows, the 32-ulp snap of ρ) of `nvk.kernels.fc.fc_recursion`.
    `out="ntk"`/`"nngp"` computes and writes only that one (the other is None). `compile=False`
    runs the same expressions eagerly. No autograd (use the eager path for gradients)."""
    if out not in ("both", "ntk", "nngp"):
        raise ValueError(f"fc_recursion_fused: out must be 'both', 'ntk' or 'nngp', got {out!r}")
    s2, b2, bg2 = sigma_w * sigma_w, bias * bias, bias_g * bias_g
    if depth == 1:
        return (p12 + bg2 if out != "ntk" else None), (p12 + b2 if out != "nngp" else None)
    rows1, rows2 = [], []
    q1, q2 = s2 * p1 + bg2, s2 * p2 + bg2  # Σ^{h−1}(x, x), h = 2
    for _ in range(2, depth + 1):
        rows1.append(_rows(q1, snap(p12.dtype), 1 / TWO_PI, 1 / TWO_PI))
        rows2.append(_rows(q2, 1.0, 1.0, 1.0))
        q1, q2 = s2 * q1 / 2 + bg2, s2 * q2 / 2 + bg2
    core = _fc_core_compiled if compile else fc_core
    return core(p12, rows1, rows2, _coef(p12, s2, b2, bg2), depth, frozen, out)


# -- the exponential family: one loop after the matrix product ------------------------------
def _pow_half(s: Tensor, gamma: float) -> Tensor:
    """s^{γ/2} of a squared distance s ≥ 0, with the eager path's operation per γ
    (`nvk.kernels._checks.pow_half`: none for 2, sqrt for 1, pow otherwise), out of place."""
    if gamma == 1.0:
        return s.sqrt()
    return s if gamma == 2.0 else s.pow(gamma / 2)


def _exp_tail(g: Tensor, a1: Tensor, a2: Tensor, coef: Tensor, gamma: float, homogeneous: bool):
    """exp(−c s^{γ/2}) from the matrix-product term g (…, N, M): s = g + a1 (g = ‖z‖² − 2x·z,
    a1 = ‖x‖²) or, homogeneous, s = 2 − 2g (g = x̂·ẑ) and the result times a1·a2 = ‖x‖‖z‖."""
    s = (2.0 - 2.0 * g if homogeneous else g + a1).clamp_min(0)
    k = torch.exp(_pow_half(s, gamma) * -coef[0])
    return k * a1 * a2 if homogeneous else k


_exp_tail_compiled = compiled(_exp_tail)


def exp_tail(
    g: Tensor, a1: Tensor, a2: Tensor, c: float, gamma: float, homogeneous: bool, same: bool
) -> Tensor:
    """`nvk.kernels.exponential`'s in-place tail (5 passes) as one compiled loop; `same`
    (x2 is x1): the exact diagonal of the eager path (s = 0 there)."""
    k = _exp_tail_compiled(g, a1, a2, _coef(g, c), gamma, homogeneous)
    if same:
        diag = k.diagonal(dim1=-2, dim2=-1)
        diag.copy_(a1.squeeze(-1) * a2.squeeze(-2) if homogeneous else torch.ones_like(diag))
    return k


# -- images: one compiled function per layer --------------------------------------------------
def box(a: Tensor) -> Tensor:
    """𝒫 on same-position entries laid out (H, W, …): 3×3 box sum with zero padding, out of
    place (the form Inductor fuses into the next map; `nvk.kernels.conv._box` is the in-place
    eager one)."""
    H, W = a.shape[0], a.shape[1]
    p = F.pad(a, (0, 0) * (a.ndim - 2) + (1, 1, 1, 1))
    s = p[:, 0:W] + p[:, 1 : W + 1] + p[:, 2 : W + 2]
    return s[0:H] + s[1 : H + 1] + s[2 : H + 2]


def _relu_core(
    s12: Tensor, theta: Tensor, r1: Tensor, r2: Tensor, q: Tensor
) -> tuple[Tensor, Tensor]:
    """(C, C + Ċ ⊙ Θ) of ReLU from Σ (s12) and Θ; r1 = −snap/√Σ(x,x), r2 = 1/√Σ(z,z),
    q = √(Σ(x,x) Σ(z,z))/2π as row factors (q: outer product, broadcast)."""
    nrho = (s12 * r1 * r2).clamp(-1.0, 1.0)  # −ρ
    j0 = torch.arccos(nrho)  # π − θ
    c = (torch.sqrt(1.0 - nrho * nrho) - j0 * nrho) * q
    return c, c + j0 * theta * (1 / TWO_PI)


def _patch_products(xp: Tensor, zp: Tensor) -> Tensor:
    """𝒫(x·z) on same positions from (C, H, W, n, 1) and (C, H, W, 1, m) pixels."""
    return box((xp * zp).sum(0))


def _cntk_first(xp, zp, r1, r2, q1, q2, coef, last: bool):
    s12 = _patch_products(xp, zp) * coef[0]  # Σ¹ = Θ¹ = σ_w²/(9C) 𝒫(x xᵀ)
    c, arg = _relu_core(s12, s12, r1, r2, q1 * q2)
    return arg if last else (c, arg)


def _cntk_next(c, arg, r1, r2, q1, q2, coef, last: bool):
    w = coef[1]  # σ_w²/9
    c, arg = _relu_core(box(c) * w, box(arg) * w, r1, r2, q1 * q2)
    return arg if last else (c, arg)


_cntk_first_c, _cntk_next_c = compiled(_cntk_first), compiled(_cntk_next)


def _pixels(x: Tensor, z: Tensor) -> tuple[Tensor, Tensor]:
    """(C, H, W, n, 1), (C, H, W, 1, m) contiguous pixel layouts of x (n, C, H, W), z."""
    return x.permute(1, 2, 3, 0).contiguous()[..., None], z.permute(1, 2, 3, 0).contiguous()[
        ..., None, :
    ]


def cntk_fast_fused(
    x: Tensor, z: Tensor, depth: int, sigma_w: float, *, compile: bool = True
) -> Tensor:
    """(n, m) CNTK with trace readout on same-position entries (H, W, n, m): the recursion of
    `nvk.kernels.conv` (module docstring), one fused function per layer."""
    first, nxt = (_cntk_first_c, _cntk_next_c) if compile else (_cntk_first, _cntk_next)
    xp, zp = _pixels(x, z)
    w = sigma_w**2 / 9
    f = w / x.shape[1]
    coef = _coef(x, f, w)
    s1, s2 = box((xp * xp).sum(0)) * f, box((zp * zp).sum(0)) * f  # Σ¹(x, x)_pp
    inv = snap(x.dtype)
    out: tuple[Tensor, Tensor] | Tensor = ()  # type: ignore[assignment]
    for h in range(1, depth + 1):
        rows = (rsqrt0(s1) * -inv, rsqrt0(s2), s1.sqrt() / TWO_PI, s2.sqrt())
        last = h == depth
        out = first(xp, zp, *rows, coef, last) if h == 1 else nxt(*out, *rows, coef, last)
        s1, s2 = box(s1) * (w / 2), box(s2) * (w / 2)  # Σʰ⁺¹(x, x) = σ_w²/9 𝒫(Σʰ(x, x)/2)
    return out.mean(dim=(0, 1))  # trace readout: (1/P) Σ_p (C + Ċ ⊙ Θ)_pp


def _exp_core(s12, r1, r2, q, coef, gamma: float) -> Tensor:
    """√(S(x,x) S(z,z)) exp(−c (2 − 2ρ)^{γ/2}); r1 = snap/√S(x,x), r2 = 1/√S(z,z), q = √·√."""
    rho = (s12 * r1 * r2).clamp(-1.0, 1.0)
    d = (2.0 - 2.0 * rho).clamp_min(0)  # ‖x̂ − ẑ‖²
    return torch.exp(-coef[0] * _pow_half(d, gamma)) * q


def _cexp_first(xp, zp, r1, r2, q1, q2, coef, gamma: float):
    return _exp_core(_patch_products(xp, zp), r1, r2, q1 * q2, coef, gamma)


def _cexp_next(k, r1, r2, q1, q2, coef, gamma: float):
    return _exp_core(box(k) / 9, r1, r2, q1 * q2, coef, gamma)


_cexp_first_c, _cexp_next_c = compiled(_cexp_first), compiled(_cexp_next)


def cexp_fast_fused(
    x: Tensor, z: Tensor, depth: int, c: float, gamma: float, *, compile: bool = True
) -> Tensor:
    """(n, m) C-Exp with trace readout on same-position entries (H, W, n, m) (the recursion of
    `nvk.kernels.conv`), one fused function per layer."""
    first, nxt = (_cexp_first_c, _cexp_next_c) if compile else (_cexp_first, _cexp_next)
    xp, zp = _pixels(x, z)
    coef = _coef(x, c)
    s1, s2 = box((xp * xp).sum(0)), box((zp * zp).sum(0))  # S¹(x, x)_pp
    inv = snap(x.dtype)
    k = None
    for h in range(1, depth + 1):
        rows = (rsqrt0(s1) * inv, rsqrt0(s2), s1.sqrt(), s2.sqrt())
        k = first(xp, zp, *rows, coef, gamma) if h == 1 else nxt(k, *rows, coef, gamma)
        s1, s2 = box(s1) / 9, box(s2) / 9  # K(x, x)_pp = S(x, x)_pp
    return k.sum(dim=(0, 1))  # trace readout: Σ_p K_pp

"""KeOps twins of the nvk kernels: the same formulas on `pykeops` LazyTensors.

Each function takes dense x1 (…, N, D), x2 (…, M, D) and returns a symbolic (…, N, M)
LazyTensor: nothing of size N×M is stored, so kernel-matrix products scale to 10⁵–10⁶ points.
The formulas are those of `nvk.kernels.exponential` and `nvk.kernels.fc` (see their docstrings);
tests check values and gradients against the dense pure functions.

Numerics match the dense versions: ‖x − z‖^γ uses the subgradient 0 at x = z (an `ifelse`
keeps log 0 out of the derivative), the FC recursion snaps |ρ| within 32 ulp of 1 to ±1
exactly as `fc_recursion` does, zero-norm rows give the dense limit values.

KeOps compiles each distinct formula once (a few seconds) into `pykeops.get_build_folder()`;
`set_keops_cache(path)` moves that folder (nvk points it at `${paths.cache_dir}/keops`).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch
from torch import Tensor

from nvk.kernels._checks import TWO_PI, snap

_TINY = 1e-300  # below every squared distance of interest: only exact zeros take the 0 branch


_PENDING_CACHE: Path | None = None  # see `defer_keops_cache`


def _lazy():
    os.environ.setdefault("KEOPS_VERBOSE", "0")
    import pykeops

    if _PENDING_CACHE is not None:
        set_keops_cache(_PENDING_CACHE)

    pykeops.set_verbose(False)
    from pykeops.torch import LazyTensor

    return LazyTensor


def set_keops_cache(path: str | os.PathLike) -> Path:
    """Compile KeOps formulas into `path` (created if needed)."""
    import pykeops

    global _PENDING_CACHE
    p = Path(path)
    p.mkdir(parents=True, exist_ok=True)
    pykeops.set_build_folder(str(p))
    _PENDING_CACHE = None
    return p


def defer_keops_cache(path: str | os.PathLike) -> None:
    """Like `set_keops_cache`, applied when the first KeOps formula is built: runs that never use
    KeOps do not import pykeops (a run start calls this with `${paths.cache_dir}/keops`)."""
    global _PENDING_CACHE
    _PENDING_CACHE = Path(path)


def _vi(t: Tensor):  # per-row scalar (…, N) -> symbolic i-variable (…, N, 1, 1)
    return _lazy()(t[..., :, None, None].contiguous())


def _vj(t: Tensor):  # per-column scalar (…, M) -> symbolic j-variable (…, 1, M, 1)
    return _lazy()(t[..., None, :, None].contiguous())


def _pair(x1: Tensor, x2: Tensor | None):
    LazyTensor = _lazy()
    x2 = x1 if x2 is None else x2
    if x1.shape[-1] != x2.shape[-1]:
        raise ValueError(f"feature dimensions differ: x1 {tuple(x1.shape)}, x2 {tuple(x2.shape)}")
    return (
        LazyTensor(x1[..., :, None, :].contiguous()),
        LazyTensor(x2[..., None, :, :].contiguous()),
        x2,
    )


def _param(v: float | Tensor, like: Tensor):
    """A scalar parameter: plain float, a one-element tensor, or one value per batch given as a
    (…, 1, 1) tensor (GPyTorch's batch_shape hyperparameters); tensors are differentiable."""
    if isinstance(v, Tensor):
        v = v.to(like.dtype)
        if v.numel() == 1:
            return _lazy()(v.reshape(1).contiguous())
        return _lazy()(v[..., None].contiguous())  # (…, 1, 1, 1): a batched KeOps parameter
    return float(v)


def _pow_half(s, gamma: float | Tensor, like: Tensor):
    """s^(γ/2) of a symbolic squared distance, 0 (with zero derivative) at s = 0."""
    if not isinstance(gamma, Tensor) and float(gamma) == 2.0:
        return s
    if not isinstance(gamma, Tensor) and float(gamma) == 1.0:  # one Sqrt, not Exp(Log)
        return (s - _TINY).ifelse(s.sqrt(), 0.0)
    g = _param(gamma, like)
    return (s - _TINY).ifelse(((0.5 * g) * s.log()).exp(), 0.0)


def keops_gamma_exponential(
    x1: Tensor, x2: Tensor | None = None, *, c: float | Tensor = 1.0, gamma: float | Tensor = 1.0
):
    """exp(−c‖x1 − x2‖^γ) as a LazyTensor (…, N, M)."""
    X, Z, _ = _pair(x1, x2)
    return (-_param(c, x1) * _pow_half(((X - Z) ** 2).sum(-1), gamma, x1)).exp()


def keops_laplace(x1: Tensor, x2: Tensor | None = None, *, c: float | Tensor = 1.0):
    return keops_gamma_exponential(x1, x2, c=c, gamma=1.0)


def keops_gaussian(x1: Tensor, x2: Tensor | None = None, *, c: float | Tensor = 1.0):
    return keops_gamma_exponential(x1, x2, c=c, gamma=2.0)


def _unit(x: Tensor) -> tuple[Tensor, Tensor]:
    n = x.norm(dim=-1)
    pos = n > 0
    return x / torch.where(pos, n, 1.0)[..., None], n


def keops_h_gamma_exponential(
    x1: Tensor, x2: Tensor | None = None, *, c: float | Tensor = 1.0, gamma: float | Tensor = 1.0
):
    """‖x‖‖z‖ exp(−c‖x/‖x‖ − z/‖z‖‖^γ) as a LazyTensor (zero rows give 0)."""
    x2 = x1 if x2 is None else x2
    u1, n1 = _unit(x1)
    u2, n2 = (u1, n1) if x2 is x1 else _unit(x2)
    U1, U2, _ = _pair(u1, u2)
    k = (-_param(c, x1) * _pow_half(((U1 - U2) ** 2).sum(-1), gamma, x1)).exp()
    return _vi(n1) * _vj(n2) * k


def keops_h_laplace(x1: Tensor, x2: Tensor | None = None, *, c: float | Tensor = 1.0):
    return keops_h_gamma_exponential(x1, x2, c=c, gamma=1.0)


def keops_h_gaussian(x1: Tensor, x2: Tensor | None = None, *, c: float | Tensor = 1.0):
    return keops_h_gamma_exponential(x1, x2, c=c, gamma=2.0)


def _factorize(formula, shared: list):
    """Evaluate each sub-formula in `shared` once per (i, j) entry.

    KeOps formulas are trees: without this, layer h's ρ is re-evaluated inside every use by
    layer h + 1 (θ, √(1 − ρ²), ρ(π − θ), the NTK sum), so the cost grows ~3× per layer (and
    the D-dimensional x·z would be computed twice, for ρ² and for the NTK sum).
    keopscore's `Factorize(F, g)` computes g into a temporary and substitutes it for every copy
    of g in F; the last one applied is computed first, hence the reversed order."""
    for g in reversed(shared):
        formula = formula.binary(g, "Factorize", dimcheck=None)
    # pykeops concatenates operand variable tuples without removing repeats, and its pre-call
    # pass scans the whole formula string once per entry: drop the repeats (same objects).
    seen: set[int] = set()
    formula.variables = tuple(
        v for v in formula.variables if not (id(v) in seen or seen.add(id(v)))
    )
    return formula


def _keops_fc(
    x1: Tensor,
    x2: Tensor | None,
    *,
    depth: int,
    bias: float,
    bias_init: str,
    sigma_w: float,
    frozen_layers: int,
    ntk: bool,
):
    from nvk.kernels._checks import check_depth

    check_depth(depth, frozen_layers, name="keops_fc_ntk" if ntk else "keops_fc_nngp")
    if bias_init not in ("zero", "gaussian"):
        raise ValueError(f"bias_init must be 'zero' or 'gaussian', got {bias_init!r}")
    X, Z, x2 = _pair(x1, x2)
    d = x1.shape[-1]
    s2, b2 = sigma_w**2, bias**2
    bg2 = b2 if bias_init == "gaussian" else 0.0
    p12 = (X | Z) * (1.0 / d)  # a float: KeOps turns "/ int" into a float32 inverse
    if depth == 1:
        return p12 + (b2 if ntk else bg2)
    q1 = s2 * (x1 * x1).sum(-1) / d + bg2  # (…, N) diagonal Σ of layer 1
    q2 = s2 * (x2 * x2).sum(-1) / d + bg2
    c = s2 * p12 + bg2
    acc = s2 * p12 + b2 if (ntk and frozen_layers == 0) else None
    inv = snap(x1.dtype)
    shared = [p12]  # x·z, then each layer's ρ, θ, C: computed once per entry (`_factorize`)
    for h in range(2, depth + 1):
        pos1, pos2 = (q1 > 0).to(x1.dtype), (q2 > 0).to(x1.dtype)
        r1 = torch.where(q1 > 0, q1, 1.0).rsqrt() * pos1
        r2 = torch.where(q2 > 0, q2, 1.0).rsqrt() * pos2
        rho = (c * _vi(r1 * inv) * _vj(r2)).clamp(-1.0, 1.0)
        theta = rho.acos()
        shared += [rho, theta]
        j1 = (1.0 - rho * rho).relu().sqrt() + (math.pi - theta) * rho
        cc = _vi(q1.sqrt() / TWO_PI) * _vj(q2.sqrt()) * j1  # C^{h-1}
        shared.append(cc)
        if h == depth:
            if not ntk:
                return _factorize(cc + bg2, shared)
            if acc is None:  # frozen_layers = L − 1: only the readout trains
                return _factorize(cc + b2, shared)
            dot = (math.pi - theta) * _vi(pos1 / TWO_PI) * _vj(pos2)
            return _factorize(acc * dot + cc + b2, shared)
        if ntk:
            if acc is not None:
                dot = (math.pi - theta) * _vi(pos1 / TWO_PI) * _vj(pos2)
                acc = (acc * dot + cc) * s2 + b2
            elif frozen_layers == h - 1:
                acc = cc * s2 + b2
        c = cc * s2 + bg2
        q1, q2 = s2 * q1 / 2 + bg2, s2 * q2 / 2 + bg2
    raise AssertionError("unreachable")


def keops_fc_ntk(
    x1: Tensor,
    x2: Tensor | None = None,
    *,
    depth: int,
    bias: float = 0.0,
    bias_init: str = "zero",
    sigma_w: float = math.sqrt(2.0),
    frozen_layers: int = 0,
):
    """`nvk.kernels.fc_ntk` as a LazyTensor (…, N, M)."""
    return _keops_fc(x1, x2, depth=depth, bias=bias, bias_init=bias_init, sigma_w=sigma_w,
                     frozen_layers=frozen_layers, ntk=True)  # fmt: skip


def keops_fc_nngp(
    x1: Tensor,
    x2: Tensor | None = None,
    *,
    depth: int,
    bias: float = 0.0,
    bias_init: str = "zero",
    sigma_w: float = math.sqrt(2.0),
    frozen_layers: int = 0,
):
    """`nvk.kernels.fc_nngp` as a LazyTensor (…, N, M)."""
    return _keops_fc(x1, x2, depth=depth, bias=bias, bias_init=bias_init, sigma_w=sigma_w,
                     frozen_layers=frozen_layers, ntk=False)  # fmt: skip

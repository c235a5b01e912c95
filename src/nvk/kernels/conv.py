"""Convolutional kernels on images: the CNTK (Arora et al. 2019) and C-Exp (Geifman et al. 2020).

Both are layer-by-layer recursions over covariances of image positions p, p' (P = H·W of them)
with 3×3 patches, stride 1 and zero padding. 𝒫 is the patch sum that keeps the offset fixed,
𝒫(A)_{p,p'} = Σ_δ A_{p+δ, p'+δ} over the 9 offsets δ (zero outside the image).

**CNTK** (the infinite-channel limit of `nvk.nets.CNN`, spec `nvk.arch.ConvSpec`; C input
channels, σ_w² = 2 by default, φ = ReLU, θ = arccos ρ, ρ = Σ_{pp'}/√(Σ_{pp} Σ_{p'p'})):

    Σ¹ = Θ¹ = σ_w²/(9C) · 𝒫(x xᵀ)                    (x xᵀ: channel dot products of pixels)
    Cʰ = √(Σ_{pp} Σ_{p'p'}) (sin θ + (π − θ) cos θ)/2π,   Ċʰ = (π − θ)/2π        (from Σʰ)
    Σʰ⁺¹ = σ_w²/9 · 𝒫(Cʰ),   Θʰ⁺¹ = σ_w²/9 · 𝒫(Cʰ + Ċʰ ⊙ Θʰ)                 h = 1..D−1
    trace readout (flatten + linear, Table 3's "vanilla"):  Θ = (1/P) Σ_p (C^D + Ċ^D ⊙ Θ^D)_{pp}
    GAP readout (global average pooling):                   Θ = (1/P²) Σ_{pp'} (C^D + Ċ^D ⊙ Θ^D)

**C-Exp** (Geifman et al. 2020, Table 3): the same hierarchy with the ReLU maps replaced by a
homogeneous exponential map of the patch covariances, with γ = 1 (Laplace), 2 (Gaussian) or
any γ ∈ (0, 2] (γ-exponential):

    S¹ = 𝒫(x xᵀ)                                   (raw inner products of 3×3×C patches)
    Kˡ = √(S_{pp} S_{p'p'}) · exp(−c (2 − 2ρ)^{γ/2}),   ρ = S_{pp'}/√(S_{pp} S_{p'p'})
    Sˡ⁺¹ = 𝒫(Kˡ)/9                                                              l = 1..D−1
    trace readout: Σ_p K^D_{pp};   GAP readout: (1/P²) Σ_{pp'} K^D

It is a single (NNGP-like) recursion with no tangent term: there is no network whose gradient
it describes, and the would-be derivative kernel ∂K/∂S contains (2 − 2ρ)^{γ/2 − 1}, unbounded
at ρ = 1 for γ < 2 (the Laplace cusp), so a Θ-style term would be infinite on the diagonal.
Each layer keeps PSD: the map is √(aa')·k(â, â') with k = exp(−c‖â − â'‖^γ) positive definite
on the unit sphere of any Hilbert space (Schoenberg, γ ≤ 2), and 𝒫 and the readouts are sums of
restrictions. The 1/9 (like the CNTK's σ_w²/9 with σ_w² = 2 absorbed) only keeps magnitudes
layer-independent: every map is 1-homogeneous in S, so it scales the kernel by a constant and
leaves ρ unchanged. At depth 1 with trace readout C-Exp is Σ_p ‖x_p‖‖z_p‖ exp(−c‖x̂_p − ẑ_p‖^γ)
over the zero-padded 3×3×C patches x_p (hats: unit vectors).

**Fast path** (trace readout): Θ_{pp} at layer h + 1 needs only same-position entries at layer
h (𝒫 keeps the offset p − p' fixed), so the recursion runs on the P diagonal entries of each
image pair: O(P·9·D) per pair instead of O(P²·9·D). Pairs are laid out (H, W, n, m) so 𝒫 is
four shifted adds of whole (n, m) slabs. Large calls run the same recursion compiled, one
fused loop per layer (`nvk.kernels.fused`, equal to this one to 1e-12 in float64).
`method="full"` runs the full-covariance recursion (the reference, and the only path for GAP;
O(P²) memory per pair).

Shapes: x1 (…, N, C, H, W), x2 (…, M, C, H, W) → (…, N, M); or flattened rows (…, N, C·H·W)
with `image_shape=(C, H, W)` (what `gram` and the solvers pass). No gradients (in place).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from nvk.arch import ConvSpec
from nvk.kernels import fused
from nvk.kernels._checks import TWO_PI, check_gamma, check_positive, rsqrt0, snap

_READOUTS = ("trace", "gap")
_METHODS = ("auto", "fast", "full")


# -- inputs ---------------------------------------------------------------------------------
def _images(x: Tensor, image_shape: Sequence[int] | None, name: str, label: str) -> Tensor:
    """(…, N, C, H, W) from images or from flattened rows (…, N, C·H·W) + image_shape."""
    if not isinstance(x, Tensor) or not x.is_floating_point():
        raise ValueError(f"{name}: {label} must be a floating-point torch.Tensor")
    if image_shape is not None:
        shape = tuple(int(s) for s in image_shape)
        if len(shape) != 3 or min(shape) < 1:
            raise ValueError(f"{name}: image_shape must be (C, H, W), got {tuple(image_shape)}")
        d = shape[0] * shape[1] * shape[2]
        if x.ndim >= 4 and tuple(x.shape[-3:]) == shape:
            return x
        if x.ndim < 2 or x.shape[-1] != d:
            raise ValueError(
                f"{name}: {label} has shape {tuple(x.shape)}; expected (..., N, {d}) rows or "
                f"(..., N, {shape[0]}, {shape[1]}, {shape[2]}) images for image_shape={shape}"
            )
        return x.reshape(*x.shape[:-1], *shape)
    if x.ndim < 4:
        raise ValueError(
            f"{name}: {label} must be images (..., N, C, H, W), got {tuple(x.shape)}; pass "
            "image_shape=(C, H, W) for flattened rows (with data=digits: data.flatten=false)"
        )
    return x


def _prepare(
    x1: Tensor, x2: Tensor | None, image_shape: Sequence[int] | None, name: str
) -> tuple[Tensor, Tensor, tuple[int, ...]]:
    """(B, N, C, H, W), (B, M, C, H, W), batch shape; finite values, equal image shapes."""
    a = _images(x1, image_shape, name, "x1")
    b = a if x2 is None else _images(x2, image_shape, name, "x2")
    if a.shape[-3:] != b.shape[-3:]:
        raise ValueError(
            f"{name}: image shapes differ: x1 {tuple(a.shape[-3:])}, x2 {tuple(b.shape[-3:])}"
        )
    for label, t in (("x1", a), ("x2", b)):
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name}: {label} holds non-finite value(s) (NaN/inf)")
    batch = torch.broadcast_shapes(a.shape[:-4], b.shape[:-4])
    a = a.expand(*batch, *a.shape[-4:]).reshape(-1, *a.shape[-4:])
    b = b.expand(*batch, *b.shape[-4:]).reshape(-1, *b.shape[-4:])
    return a, b, tuple(batch)


def _check(depth: int, readout: str, method: str, name: str) -> str:
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 1:
        raise ValueError(f"{name}: depth must be an integer >= 1, got {depth!r}")
    if readout not in _READOUTS:
        raise ValueError(f"{name}: readout must be one of {_READOUTS}, got {readout!r}")
    if method not in _METHODS:
        raise ValueError(f"{name}: method must be one of {_METHODS}, got {method!r}")
    if method == "fast" and readout == "gap":
        raise ValueError(f"{name}: method='fast' needs readout='trace' (GAP needs all p, p')")
    return "fast" if method == "auto" and readout == "trace" else method


# -- layer maps (neural-tangents style transitions) -----------------------------------------
def _rho(s12: Tensor, r1: Tensor, r2: Tensor, sign: float = 1.0) -> Tensor:
    """sign·ρ = sign·s12·r1·r2 in place, clamped to [−1, 1]; |ρ| within 32 ulp of 1 counts as
    ±1 (so identical patches give exactly ρ = 1 whichever way their products were rounded)."""
    inv = sign * snap(s12.dtype)
    return s12.mul_(r1).mul_(r2 * inv).clamp_(-1.0, 1.0)


def _relu_map(s12: Tensor, s1: Tensor, s2: Tensor) -> tuple[Tensor, Tensor]:
    """(2π·C, 2π·Ċ) of ReLU from covariances s12 (consumed), variances s1, s2 (broadcastable):
    2πC = √(s1 s2)(sin θ + (π − θ) cos θ), 2πĊ = π − θ = arccos(−ρ) (9 elementwise passes)."""
    nrho = _rho(s12, rsqrt0(s1), rsqrt0(s2), sign=-1.0)  # −ρ
    dot = torch.arccos(nrho)  # π − θ
    one = torch.ones((), dtype=nrho.dtype, device=nrho.device)
    c = torch.addcmul(one, nrho, nrho, value=-1.0).sqrt_()  # sin θ (|ρ| ≤ 1: 1 − ρ² ≥ 0)
    c.addcmul_(dot, nrho, value=-1.0).mul_(s1.sqrt()).mul_(s2.sqrt())
    return c, dot


def _exp_map(s12: Tensor, s1: Tensor, s2: Tensor, c: float, gamma: float) -> Tensor:
    """√(s1 s2) exp(−c (2 − 2ρ)^{γ/2}) from s12 (consumed), s1, s2 (broadcastable)."""
    rho = _rho(s12, rsqrt0(s1), rsqrt0(s2))
    d = rho.mul_(-2.0).add_(2.0).clamp_min_(0)  # ‖x̂ − ẑ‖² = 2 − 2ρ
    if gamma != 2.0:
        d = d.sqrt_() if gamma == 1.0 else d.pow_(gamma / 2)
    return d.mul_(-c).exp_().mul_(s1.sqrt() * s2.sqrt())


# -- patch sums 𝒫 ---------------------------------------------------------------------------
def _box(a: Tensor) -> Tensor:
    """𝒫 on same-position entries laid out (H, W, …): 3×3 box sum with zero padding."""
    s = a.clone()
    s[1:] += a[:-1]
    s[:-1] += a[1:]
    t = s.clone()
    t[:, 1:] += s[:, :-1]
    t[:, :-1] += s[:, 1:]
    return t


def _box_full(a: Tensor) -> Tensor:
    """𝒫 on full covariances (…, H, W, H, W): Σ_δ a[i+δ₁, j+δ₂, i'+δ₁, j'+δ₂], zero outside."""
    H, W = a.shape[-4], a.shape[-3]
    p = F.pad(a, (1,) * 8)  # (…, H+2, W+2, H+2, W+2)
    out = torch.zeros_like(a)
    for di in range(3):
        for dj in range(3):
            out += p[..., di : di + H, dj : dj + W, di : di + H, dj : dj + W]
    return out


# -- fast path: same-position entries only ---------------------------------------------------
def _diag_first(x: Tensor, z: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(H, W, n, m) patch products 𝒫(x·z)_pp and the (H, W, n, 1), (H, W, 1, m) self terms."""
    xp = x.permute(2, 3, 0, 1)  # (H, W, n, C)
    zp = z.permute(2, 3, 1, 0)  # (H, W, C, m)
    s12 = _box(torch.matmul(xp, zp))  # (H, W, n, m)
    s1 = _box((xp * xp).sum(-1, keepdim=True))  # (H, W, n, 1)
    s2 = _box((zp * zp).sum(-2, keepdim=True))  # (H, W, 1, m)
    return s12, s1, s2


def _cntk_fast_layers(x: Tensor, z: Tensor, depth: int, sigma_w: float) -> Tensor:
    """(n, m) CNTK with trace readout, recursion on same-position entries (H, W, n, m).

    Σ, Θ and the self variances are stored up to one common scalar factor `scale` (true =
    scale · stored): the maps are 1-homogeneous and ρ is scale-free, so the per-layer
    constants σ_w²/9 and 1/2π cost no passes over the (H, W, n, m) tensors."""
    s12, s1, s2 = _diag_first(x, z)
    scale = sigma_w**2 / (9 * x.shape[1])
    theta = s12.clone()  # Θ¹ = Σ¹
    w = sigma_w**2 / 9
    for h in range(1, depth + 1):
        c, dot = _relu_map(s12, s1, s2)  # 2πC, 2πĊ (s12 consumed)
        arg = dot.mul_(theta).add_(c)  # 2π(C + Ċ ⊙ Θ) / scale
        if h == depth:  # trace readout: (1/P) Σ_p (C + Ċ⊙Θ)_pp
            return arg.mean(dim=(0, 1)).mul_(scale / TWO_PI)
        s12, theta = _box(c), _box(arg)  # Σʰ⁺¹, Θʰ⁺¹ up to the new scale
        scale *= w / TWO_PI
        s1, s2 = _box(s1).mul_(math.pi), _box(s2).mul_(math.pi)  # C(x, x) = Σ(x, x)/2
    raise AssertionError("unreachable")


def _cexp_fast(x: Tensor, z: Tensor, depth: int, c: float, gamma: float) -> Tensor:
    """(n, m) C-Exp with trace readout, same-position entries (H, W, n, m)."""
    s12, s1, s2 = _diag_first(x, z)
    for layer in range(1, depth + 1):
        k = _exp_map(s12, s1, s2, c, gamma)  # s12 consumed
        if layer == depth:
            return k.sum(dim=(0, 1))  # Σ_p K_pp
        s12 = _box(k).div_(9)
        s1, s2 = _box(s1).div_(9), _box(s2).div_(9)  # K(x, x)_pp = S(x, x)_pp
    raise AssertionError("unreachable")


# -- full-covariance path (reference, GAP) ---------------------------------------------------
def _full_first(x: Tensor, z: Tensor | None = None) -> Tensor:
    """𝒫 of pixel channel products x(q)·z(q'): (n, m, H, W, H, W), or with z=None the self
    covariances (n, H, W, H, W) of each image of x."""
    if z is None:
        return _box_full(torch.einsum("nchw,ncuv->nhwuv", x, x))
    return _box_full(torch.einsum("nchw,mcuv->nmhwuv", x, z))


def _diag_of(s: Tensor) -> Tensor:
    """(…, H, W, H, W) → (…, H, W) same-position entries."""
    H, W = s.shape[-4], s.shape[-3]
    return (
        s.reshape(*s.shape[:-4], H * W, H * W)
        .diagonal(dim1=-2, dim2=-1)
        .reshape(*s.shape[:-4], H, W)
    )


Layer = Callable[[Tensor, Tensor, Tensor, bool, dict[str, Tensor], str], tuple[Tensor, Tensor]]


def _full(
    x: Tensor, z: Tensor, depth: int, readout: str, layer: Layer, first: float, trace_sum: bool
) -> Tensor:
    """Generic full recursion on (n, m, H, W, H, W) covariances. `layer(s12, d1, d2, last,
    state, tag)` maps a covariance with self variances d1, d2 (broadcastable) to the next
    layer's covariance, or at the last layer to the readout argument; the self covariances of
    x and z (tags "xx", "zz") run through the same map, so ρ uses their own diagonals."""
    sxz = _full_first(x, z).mul_(first)
    sxx, szz = _full_first(x).mul_(first), _full_first(z).mul_(first)  # (n|m, H, W, H, W)
    state: dict[str, Tensor] = {}
    for h in range(1, depth + 1):
        dx, dz = _diag_of(sxx), _diag_of(szz)  # (n, H, W), (m, H, W)
        d1, d2 = dx[:, None, :, :, None, None], dz[None, :, None, None, :, :]
        if h == depth:
            arg = layer(sxz, d1, d2, True, state, "xz")
            if readout == "gap":
                return arg.mean(dim=(-4, -3, -2, -1))
            diag = _diag_of(arg)
            return diag.sum(dim=(-2, -1)) if trace_sum else diag.mean(dim=(-2, -1))
        sxz = layer(sxz, d1, d2, False, state, "xz")
        sxx = layer(sxx, dx[:, :, :, None, None], dx[:, None, None], False, state, "xx")
        szz = layer(szz, dz[:, :, :, None, None], dz[:, None, None], False, state, "zz")
    raise AssertionError("unreachable")


def _cntk_layer(sigma_w: float) -> Layer:
    w = sigma_w**2 / 9

    def layer(s12, d1, d2, last, state, tag):
        c, dot = _relu_map(s12.clone(), d1, d2)
        c.div_(TWO_PI), dot.div_(TWO_PI)  # C, Ċ
        if tag != "xz":  # self covariances: only Σ is needed
            return _box_full(c).mul_(w)
        arg = dot.mul_(state.get(tag, s12)).add_(c)  # C + Ċ ⊙ Θ  (Θ¹ = Σ¹)
        if last:
            return arg
        state[tag] = _box_full(arg).mul_(w)
        return _box_full(c).mul_(w)

    return layer


def _cexp_layer(c: float, gamma: float) -> Layer:
    def layer(s12, d1, d2, last, state, tag):
        k = _exp_map(s12.clone(), d1, d2, c, gamma)
        return k if last else _box_full(k).div_(9)

    return layer


# -- chunked driver --------------------------------------------------------------------------
def _pairs(
    x1: Tensor,
    x2: Tensor | None,
    image_shape: Sequence[int] | None,
    name: str,
    block: Callable[[Tensor, Tensor], Tensor],
    per_pair: int,
    chunk_bytes: float | None,
    fused_block: Callable[[Tensor, Tensor], Tensor] | None = None,
) -> Tensor:
    """(…, N, M) from block(x (n, C, H, W), z (m, C, H, W)) → (n, m) on chunks of image pairs
    whose temporaries (`per_pair` elements each) take about `chunk_bytes` (default: 4 MiB on
    the CPU, where the eager recursion is memory-bound and cache-sized chunks run ~3× faster
    than large ones, 8 MiB for the fused one; 256 MiB on CUDA). `fused_block` replaces `block`
    where `nvk.kernels.fused.use_fused` says so (large problems, no gradients)."""
    a, b, batch = _prepare(x1, x2, image_shape, name)
    N, M = a.shape[1], b.shape[1]
    compiled = fused_block is not None and fused.use_fused(a.shape[0] * N * M * per_pair, a, b)
    if compiled:
        block = fused_block
    if chunk_bytes is None:
        chunk_bytes = (2**23 if compiled else 2**22) if a.device.type == "cpu" else 2**28
    pairs = max(1, int(chunk_bytes // (per_pair * a.element_size())))
    cols = max(1, min(M, int(math.sqrt(pairs))))
    vec = 16 if compiled else 1  # columns a multiple of the compiled loops' vector width
    cols = cols // vec * vec if vec <= cols < M else cols
    rows = max(1, pairs // cols)
    out = a.new_empty((a.shape[0], N, M))
    with torch.no_grad():
        for i in range(a.shape[0]):
            for r in range(0, N, rows):
                for c in range(0, M, cols):
                    out[i, r : r + rows, c : c + cols] = block(
                        a[i, r : r + rows], b[i, c : c + cols]
                    )
    return out.reshape(*batch, N, M)


def cntk(
    x1: Tensor,
    x2: Tensor | None = None,
    *,
    depth: int = 3,
    readout: str = "trace",
    sigma_w: float = math.sqrt(2.0),
    image_shape: Sequence[int] | None = None,
    method: str = "auto",
    chunk_bytes: float | None = None,
) -> Tensor:
    """Convolutional NTK (Arora et al. 2019) of the 3×3 ReLU CNN `nvk.nets.CNN` (formula: the
    module docstring).

    Args:
        x1, x2: images (…, N, C, H, W), (…, M, C, H, W) (x2=None: x1), or flattened rows with
            `image_shape`.
        depth: convolution layers D ≥ 1.
        readout: "trace" (flatten + linear readout, Table 3's vanilla CNTK) or "gap".
        sigma_w: weight scale of the convolutions (√2 keeps ReLU variances).
        method: "fast" (same-position recursion, trace only), "full" (full covariances, the
            reference), "auto" (fast for trace, full for GAP).
        chunk_bytes: bytes of one temporary per chunk of image pairs (None: 4 MiB on the
            CPU, 256 MiB on CUDA).

    Returns: (…, N, M) in the inputs' dtype.
    """
    name = "cntk"
    method = _check(depth, readout, method, name)
    check_positive(sigma_w, name=name, what="sigma_w")
    if method == "fast":
        blk = lambda x, z: _cntk_fast_layers(x, z, depth, sigma_w)  # noqa: E731
        fblk = lambda x, z: fused.cntk_fast_fused(x, z, depth, sigma_w)  # noqa: E731
        P = _positions(x1, image_shape)
        return _pairs(x1, x2, image_shape, name, blk, P, chunk_bytes, fblk)
    first = sigma_w**2 / (9 * _channels(x1, image_shape))
    blk = lambda x, z: _full(x, z, depth, readout, _cntk_layer(sigma_w), first, False)  # noqa: E731
    return _pairs(x1, x2, image_shape, name, blk, _positions(x1, image_shape) ** 2, chunk_bytes)


def cexp(
    x1: Tensor,
    x2: Tensor | None = None,
    *,
    depth: int = 3,
    c: float = 1.0,
    gamma: float = 1.0,
    readout: str = "trace",
    image_shape: Sequence[int] | None = None,
    method: str = "auto",
    chunk_bytes: float | None = None,
) -> Tensor:
    """C-Exp (Geifman et al. 2020, Table 3): the CNTK hierarchy with the homogeneous exponential
    map √(S_pp S_p'p') exp(−c (2 − 2ρ)^{γ/2}) in place of the ReLU maps (module docstring).

    Args:
        x1, x2: images (…, N, C, H, W), (…, M, C, H, W), or flattened rows with `image_shape`.
        depth: exponential layers D ≥ 1 (D = 1: one map on the 3×3 image patches).
        c: scale c > 0; gamma: γ ∈ (0, 2] (1 Laplace, 2 Gaussian).
        readout: "trace" (Σ_p K_pp) or "gap" ((1/P²) Σ_pp' K_pp').
        method, chunk_bytes: as in `cntk`.

    Returns: (…, N, M) in the inputs' dtype. Symmetric PSD Gram matrices.
    """
    name = "cexp"
    method = _check(depth, readout, method, name)
    c = float(check_positive(c, name=name, what="c"))
    gamma = float(check_gamma(gamma, name=name))
    if method == "fast":
        blk = lambda x, z: _cexp_fast(x, z, depth, c, gamma)  # noqa: E731
        fblk = lambda x, z: fused.cexp_fast_fused(x, z, depth, c, gamma)  # noqa: E731
        P = _positions(x1, image_shape)
        return _pairs(x1, x2, image_shape, name, blk, P, chunk_bytes, fblk)
    blk = lambda x, z: _full(x, z, depth, readout, _cexp_layer(c, gamma), 1.0, True)  # noqa: E731
    return _pairs(x1, x2, image_shape, name, blk, _positions(x1, image_shape) ** 2, chunk_bytes)


def _positions(x: Tensor, image_shape: Sequence[int] | None) -> int:
    return int(image_shape[1] * image_shape[2]) if image_shape else int(x.shape[-2] * x.shape[-1])


def _channels(x: Tensor, image_shape: Sequence[int] | None) -> int:
    return int(image_shape[0]) if image_shape else int(x.shape[-3])


def cntk_from_arch(spec: ConvSpec, **kwargs) -> Callable[..., Tensor]:
    """`cntk` with depth, σ_w and readout taken from a `ConvSpec` (the CNN's twin)."""
    import functools

    return functools.partial(
        cntk, depth=spec.depth, sigma_w=spec.sigma_w, readout=spec.kernel_readout, **kwargs
    )

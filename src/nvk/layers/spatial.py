"""Image layers: Conv, AvgPool, GlobalAvgPool and Flatten (the trace readout).

Conv, finite face (k×k kernel, stride s, zero padding; C = input channels, n = fan-in k²C;
`nvk.nets.cnn.NTKConv2d` for k = 3, s = 1, padding 1, no bias):

    g(p) = σ_w Σ_δ W_δ x(s·p + δ) / √(k²C) + β b          (NTK parameterization)

Conv, infinite face (Arora et al. 2019; Novak et al. 2019): with the patch sum
𝒫(A)_{p,p'} = Σ_δ A_{s·p+δ, s·p'+δ} over the k² offsets δ (zero outside the padded image),

    Σ' = σ_w²/k² 𝒫(Σ) + β_g²
    Θ' = σ_w²/k² 𝒫(Σ + Θ) + β²                           (parameterization="ntk")
    Θ' = C 𝒫(Σ) + 1[β > 0] + σ_w²/k² 𝒫(Θ)                (parameterization="standard")

(β_g as in `nvk.layers.dense`). 𝒫 uses one offset δ for both positions, so same-position
entries map to same-position entries: Conv runs on the "full" and on the "diag" layout.

AvgPool (window k, stride s, zero padding counted): Σ'_{pp'} = (1/k⁴) Σ_{δ,δ'} Σ_{sp+δ, sp'+δ'}
(also Θ) — it mixes offsets, so it needs the "full" layout; GlobalAvgPool: Σ' = (1/P²) Σ_{pp'}
Σ_{pp'} ("full" only). Flatten: the features x(c, p) with fan-in C·P for the next Dense, whose
kernel reads Σ' = (1/P) Σ_p Σ_{pp} (the trace readout of `nvk.kernels.cntk`: the next Dense
with σ_w = 1 gives (1/P) Σ_p (C + Ċ⊙Θ)_pp); it runs on both layouts.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nvk.layers.base import (
    BIAS_INITS,
    PARAMETERIZATIONS,
    FnModule,
    Layer,
    Shapes,
    State,
    check_choice,
    check_float,
    check_int,
    require_layout,
    shift_,
    single_shape,
    single_state,
)
from nvk.layers.state import diag_of

SQRT2 = math.sqrt(2.0)
PADDINGS = ("same", "valid", "an integer >= 0")
_FULL_FIX = (
    "pooling reads off-diagonal positions, which the same-position shortcut ('diag') dropped; "
    "use layout='full' (layout='auto' picks it when the list pools)"
)


def _resolve_padding(padding: str | int, layer: str) -> str | int:
    if isinstance(padding, str) and padding in ("same", "valid"):
        return padding
    if isinstance(padding, int) and not isinstance(padding, bool) and padding >= 0:
        return padding
    raise ValueError(f"{layer}: padding must be one of {PADDINGS}, got {padding!r}")


def _axis(size: int, k: int, s: int, padding: str | int, layer: str) -> tuple[int, int, int]:
    """(low pad, high pad, output size) along one axis. "same": output ⌈size/s⌉ with the
    total padding split low = ⌊total/2⌋ (TensorFlow/neural-tangents convention; k odd and
    s = 1 gives (k−1)/2 on both sides); "valid": none; an integer p: p on both sides."""
    if padding == "same":
        out = -(-size // s)
        total = max((out - 1) * s + k - size, 0)
        lo = total // 2
        return lo, total - lo, out
    p = 0 if padding == "valid" else int(padding)
    out = (size + 2 * p - k) // s + 1
    if out < 1:
        raise ValueError(
            f"{layer}: window {k} with padding {padding!r} does not fit an input of size {size}"
        )
    return p, p, out


def _geometry(shape: tuple[int, ...], k: int, s: int, padding, layer: str):
    """((h_lo, h_hi, H'), (w_lo, w_hi, W')) for a (C, H, W) input."""
    if len(shape) != 3:
        raise ValueError(f"{layer} needs images (C, H, W), got shape {shape}")
    return _axis(shape[1], k, s, padding, layer), _axis(shape[2], k, s, padding, layer)


def patch_sum(a: Tensor, k: int, s: int, geo, *, full: bool) -> Tensor:
    """𝒫 on the trailing spatial dims: (…, H, W) → (…, H', W') (same-position entries) or,
    with `full`, (…, H, W, H, W) → (…, H', W', H', W'): Σ_δ a[s·p + δ, s·p' + δ]."""
    (hl, hh, Ho), (wl, wh, Wo) = geo
    pads = (wl, wh, hl, hh) * (2 if full else 1)
    p = F.pad(a, pads) if any(pads) else a
    out = a.new_zeros((*a.shape[: -4 if full else -2], *((Ho, Wo) * (2 if full else 1))))
    eh, ew = s * (Ho - 1) + 1, s * (Wo - 1) + 1
    for i in range(k):
        for j in range(k):
            hi, wj = slice(i, i + eh, s), slice(j, j + ew, s)
            out += p[..., hi, wj, hi, wj] if full else p[..., hi, wj]
    return out


def _pool_axis(t: Tensor, dim: int, k: int, s: int, lo: int, hi: int) -> Tensor:
    """Window means along one (negative) dim, zero padding counted."""
    if lo or hi:
        t = F.pad(t, [0, 0] * (-dim - 1) + [lo, hi])
    return t.unfold(dim, k, s).mean(-1)


class _ConvModule(nn.Module):
    """y = σ_w (W ∗ x)/√(k²C) + β b with W ~ N(0, 1) (standard: W ~ N(0, σ_w²/(k²C)), b = β·b₀,
    y = W ∗ x + b), stride s, zero padding (h_lo, h_hi, w_lo, w_hi).
    (B, C, H, W) → (B, n, H', W')."""

    def __init__(self, c_in, c_out, k, s, geo, *, sigma, bias, bias_init, parameterization):
        super().__init__()
        fan_in = k * k * c_in
        self.ntk = parameterization == "ntk"
        self.stride = s
        (hl, hh, _), (wl, wh, _) = geo
        self.pads = (wl, wh, hl, hh)
        self.weight_scale = sigma / math.sqrt(fan_in) if self.ntk else 1.0
        self.bias_scale = bias if self.ntk else 1.0
        self.weight = nn.Parameter(torch.randn(c_out, c_in, k, k))
        if not self.ntk:
            with torch.no_grad():
                self.weight.mul_(sigma / math.sqrt(fan_in))
        self.bias: nn.Parameter | None = None
        if bias > 0:
            b = torch.randn(c_out) if bias_init == "gaussian" else torch.zeros(c_out)
            self.bias = nn.Parameter(b if self.ntk else bias * b)

    def forward(self, x: Tensor) -> Tensor:
        wl, wh, hl, hh = self.pads
        if wl == wh and hl == hh:
            y = F.conv2d(x, self.weight, stride=self.stride, padding=(hl, wl))
        else:
            y = F.conv2d(F.pad(x, self.pads), self.weight, stride=self.stride)
        y = self.weight_scale * y
        if self.bias is not None:
            y = y + self.bias_scale * self.bias[:, None, None]
        return y


class Conv(Layer):
    """k×k convolution (C, H, W) → (out_channels, H', W'); formulas in the module docstring.

    Args:
        out_channels: channels n ≥ 1 (the width).
        kernel: window size k ≥ 1 (square).
        stride: s ≥ 1.
        padding: "same" (output ⌈H/s⌉), "valid" (no padding) or an integer p ≥ 0.
        W_std, b_std, bias_init, parameterization: as in `Dense`.
    """

    def __init__(
        self,
        out_channels: int,
        kernel: int = 3,
        stride: int = 1,
        padding: str | int = "same",
        W_std: float = SQRT2,
        b_std: float = 0.0,
        bias_init: str = "zero",
        parameterization: str = "ntk",
    ) -> None:
        self.out_channels = check_int(out_channels, "out_channels", "Conv")
        self.kernel_size = check_int(kernel, "kernel", "Conv")
        self.stride = check_int(stride, "stride", "Conv")
        self.padding = _resolve_padding(padding, "Conv")
        self.W_std = check_float(W_std, "W_std", "Conv", positive=True)
        self.b_std = check_float(b_std, "b_std", "Conv", positive=False)
        self.bias_init = check_choice(bias_init, "bias_init", "Conv", BIAS_INITS)
        self.parameterization = check_choice(
            parameterization, "parameterization", "Conv", PARAMETERIZATIONS
        )

    def _geo(self, in_shape: Shapes):
        shape = single_shape(in_shape, self)
        return shape, _geometry(shape, self.kernel_size, self.stride, self.padding, "Conv")

    def out_shape(self, in_shape: Shapes) -> Shapes:
        _, ((_, _, Ho), (_, _, Wo)) = self._geo(in_shape)
        return (self.out_channels, Ho, Wo)

    def build(self, in_shape: Shapes):
        """A convolution module (NTKConv2d's parameters and draw order for k = 3, s = 1)."""
        shape, geo = self._geo(in_shape)
        module = _ConvModule(
            shape[0], self.out_channels, self.kernel_size, self.stride, geo,
            sigma=self.W_std, bias=self.b_std, bias_init=self.bias_init,
            parameterization=self.parameterization,
        )  # fmt: skip
        return module, self.out_shape(in_shape)

    def kernel(self, state: State) -> State:
        """Σ' = σ_w²/k² 𝒫(Σ) + β_g², Θ' (module docstring), on the "full" or "diag" layout."""
        s = single_state(state, self)
        require_layout(s, self, ("full", "diag"), "Conv needs images (C, H, W)")
        shape, geo = self._geo(s.shape)
        k, full = self.kernel_size, s.layout == "full"
        w2 = self.W_std**2 / k**2
        b2 = self.b_std**2
        bg2 = b2 if self.bias_init == "gaussian" else 0.0

        def P(a: Tensor) -> Tensor:
            return patch_sum(a, k, self.stride, geo, full=full)

        ntk = None
        if s.ntk is not None:
            if self.parameterization == "ntk":
                ntk = shift_(P(s.nngp + s.ntk).mul_(w2), b2)
            else:
                extra = 1.0 if self.b_std > 0 else 0.0
                ntk = shape[0] * P(s.nngp) + extra + w2 * P(s.ntk)
        cov1 = shift_(P(s.cov1).mul_(w2), bg2)
        return s.replace(
            nngp=shift_(P(s.nngp).mul_(w2), bg2),
            ntk=ntk,
            cov1=cov1,
            cov2=cov1 if s.same else shift_(P(s.cov2).mul_(w2), bg2),
            shape=self.out_shape(s.shape),
            fresh=True,
            gaussian=True,
        )


class AvgPool(Layer):
    """Average pooling, window k, stride s (default k), zero padding counted in the mean.

    Σ'_{pp'} = (1/k⁴) Σ_{δ,δ'} Σ_{sp+δ, sp'+δ'} (Θ likewise): needs the "full" layout.
    Args: window k ≥ 1, stride (None: k), padding "valid" (default), "same" or an integer.
    """

    def __init__(self, window: int = 2, stride: int | None = None, padding: str | int = "valid"):
        self.window = check_int(window, "window", "AvgPool")
        self.stride = self.window if stride is None else check_int(stride, "stride", "AvgPool")
        self.padding = _resolve_padding(padding, "AvgPool")

    def _geo(self, in_shape: Shapes):
        return _geometry(single_shape(in_shape, self), self.window, self.stride, self.padding,
                         "AvgPool")  # fmt: skip

    def out_shape(self, in_shape: Shapes) -> Shapes:
        (_, _, Ho), (_, _, Wo) = self._geo(in_shape)
        return (single_shape(in_shape, self)[0], Ho, Wo)

    def build(self, in_shape: Shapes):
        """Zero padding, then `F.avg_pool2d`."""
        (hl, hh, _), (wl, wh, _) = self._geo(in_shape)
        k, st, pads = self.window, self.stride, (wl, wh, hl, hh)

        def pool(x: Tensor) -> Tensor:
            return F.avg_pool2d(F.pad(x, pads) if any(pads) else x, k, st)

        return FnModule(pool, repr(self)), self.out_shape(in_shape)

    def needs_full_layout(self) -> bool:
        return True

    def kernel(self, state: State) -> State:
        """Window means along both positions of every entry (module docstring)."""
        s = single_state(state, self)
        require_layout(s, self, ("full",), _FULL_FIX)
        (hl, hh, _), (wl, wh, _) = self._geo(s.shape)
        k, st = self.window, self.stride

        def pool(t: Tensor) -> Tensor:
            for dim, lo, hi in ((-4, hl, hh), (-3, wl, wh), (-2, hl, hh), (-1, wl, wh)):
                t = _pool_axis(t, dim, k, st, lo, hi)
            return t

        return s.replace(**s.map_all(pool), shape=self.out_shape(s.shape))


class GlobalAvgPool(Layer):
    """Mean over positions (C, H, W) → (C,): Σ' = (1/P²) Σ_{pp'} Σ_{pp'} (Θ likewise), the GAP
    readout of `nvk.kernels.cntk`; needs the "full" layout."""

    def out_shape(self, in_shape: Shapes) -> Shapes:
        shape = single_shape(in_shape, self)
        if len(shape) != 3:
            raise ValueError(f"GlobalAvgPool needs images (C, H, W), got shape {shape}")
        return (shape[0],)

    def build(self, in_shape: Shapes):
        """x.mean over (H, W)."""
        return FnModule(lambda x: x.mean(dim=(2, 3)), "GlobalAvgPool()"), self.out_shape(in_shape)

    def needs_full_layout(self) -> bool:
        return True

    def kernel(self, state: State) -> State:
        """(N, M, H, W, H, W) → (N, M); layout becomes "vector"."""
        s = single_state(state, self)
        require_layout(s, self, ("full",), _FULL_FIX)
        out = s.map_all(lambda t: t.mean(dim=(-4, -3, -2, -1)))
        return s.replace(**out, layout="vector", shape=self.out_shape(s.shape))


class Flatten(Layer):
    """(C, H, W) → (C·H·W,), the trace readout: Σ' = (1/P) Σ_p Σ_{pp} (Θ likewise), so a
    following Dense with fan-in C·P reads the mean over positions of the same-position
    entries (as `nvk.kernels.cntk`'s trace readout and `nvk.nets.CNN`'s flatten readout).
    Runs on "full" and "diag"; a no-op on vectors. The flattened features have
    position-dependent variances, which one per-feature state cannot carry, so an activation
    cannot follow Flatten directly (the state is marked non-Gaussian; put a Dense first)."""

    def out_shape(self, in_shape: Shapes) -> Shapes:
        return (math.prod(single_shape(in_shape, self)),)

    def build(self, in_shape: Shapes):
        """`nn.Flatten(1)`."""
        return nn.Flatten(1), self.out_shape(in_shape)

    def kernel(self, state: State) -> State:
        """(N, M, H, W[, H, W]) → (N, M); layout becomes "vector"."""
        s = single_state(state, self)
        if s.layout == "vector":
            return s
        take = diag_of if s.layout == "full" else (lambda t: t)
        out = s.map_all(lambda t: take(t).mean(dim=(-2, -1)))
        return s.replace(**out, layout="vector", shape=self.out_shape(s.shape), gaussian=False)

"""The analytic kernel of a layer list as kernel models call it: k(x1 (n, …), x2 (m, …)) → (n, m).

`analytic_kernel(layer, in_shape, get)` is the one place that decides how it is computed:

* **fused** (`fused_kernel`): when the list is one that a function of `nvk.kernels` computes
  in one fused recursion, that function: the Core ReLU MLP (`mlp`, NTK parameterization) →
  `fc_ntk` / `fc_nngp`; the CNTK's CNN (`cnn`, readout "flatten" (cntk's trace) or "gap", NTK
  parameterization, no biases) → `cntk` (NTK only; the CNN's NNGP has no fused function);
  the `cexp` list (kernel-only, NNGP) → `cexp`.
  Faster (benchmarks/layers.py, 2026-12-03, 2 cores, float64: composed / fused = 2.0 for the
  depth-6 MLP at n = 4000 — both compiled —, 7.0 for the CNTK and 13 for C-Exp on 64
  images 32×32×3) and equal to the composed kernel to 1e-12.
* **composed** (`LayerKernel`): any other list, through `nvk.layers.KernelFn`, in chunks of
  image pairs whose state tensors take about `chunk_bytes` each.

Either way the result is a pure, picklable callable with a stable key
(`nvk.kernels.gram.kernel_key`) that reads the flattened rows `gram` and the solvers pass (the
fused image kernel gets `image_shape` bound, the composed one knows its `in_shape`), so kernel
models tile it like every other kernel and solvers see kernel values only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from nvk.kernels import bind_image_shape, cexp, cntk, config_partial, fc_nngp, fc_ntk
from nvk.layers.activations import ReLU
from nvk.layers.base import Layer, Shape
from nvk.layers.combinators import Serial
from nvk.layers.dense import Dense
from nvk.layers.kernel_only import ExpMap
from nvk.layers.spatial import Conv, Flatten, GlobalAvgPool
from nvk.layers.twins import GETS, KernelFn

SQRT2 = math.sqrt(2.0)


def _layers(layer: Layer) -> list[Layer]:
    return list(layer.layers) if isinstance(layer, Serial) else [layer]


def _core_mlp(layers: list[Layer]) -> dict | None:
    """fc_ntk's parameters when `layers` is depth − 1 × [Dense(σ_w, β), ReLU], Dense(1·, β) in
    NTK parameterization (the `mlp` preset with ReLU), else None."""
    if len(layers) % 2 != 1:
        return None
    dense, acts = layers[0::2], layers[1::2]
    if not all(type(d) is Dense for d in dense) or not all(type(a) is ReLU for a in acts):
        return None
    if any(d.parameterization != "ntk" for d in dense) or dense[-1].W_std != 1.0:
        return None
    if len({(d.b_std, d.bias_init) for d in dense}) != 1:
        return None
    hidden = {d.W_std for d in dense[:-1]}
    if len(hidden) > 1:
        return None
    return dict(
        depth=len(dense),
        sigma_w=hidden.pop() if hidden else SQRT2,  # depth 1: the linear model has no σ_w
        bias=dense[-1].b_std,
        bias_init=dense[-1].bias_init,
    )


def _cntk_cnn(layers: list[Layer]) -> dict | None:
    """cntk's parameters when `layers` is depth × [Conv(3×3, stride 1, same, no bias), ReLU],
    Flatten or GlobalAvgPool, Dense(W_std=1, no bias), all in NTK parameterization (the `cnn`
    preset with ReLU; readout "flatten" is cntk's "trace", "gap" its "gap"), else None."""
    if len(layers) < 4 or len(layers) % 2:
        return None
    *body, flat, head = layers
    convs, acts = body[0::2], body[1::2]
    if not all(type(c) is Conv for c in convs) or not all(type(a) is ReLU for a in acts):
        return None
    readout = {Flatten: "trace", GlobalAvgPool: "gap"}.get(type(flat))
    if readout is None or type(head) is not Dense:
        return None
    if any(
        c.kernel_size != 3 or c.stride != 1 or c.padding not in ("same", 1) or c.b_std != 0.0
        or c.parameterization != "ntk" for c in convs
    ):  # fmt: skip
        return None
    if head.W_std != 1.0 or head.b_std != 0.0 or head.parameterization != "ntk":
        return None
    sigma = {c.W_std for c in convs}
    if len(sigma) > 1:
        return None
    return dict(depth=len(convs), sigma_w=sigma.pop(), readout=readout)


def _cexp_list(layers: list[Layer], shape: Shape) -> dict | None:
    """cexp's parameters when `layers` is the `cexp` preset for images of `shape` (C, H, W):
    Conv(1, 3×3, σ_w = 3√C), ExpMap(c, γ), then depth − 1 × [Conv(1, 3×3, σ_w = 1), ExpMap(c, γ)],
    Flatten (cexp's "trace", readout σ_w = √(H·W)) or GlobalAvgPool ("gap", σ_w = 1),
    Dense(1); else None."""
    if len(layers) < 4 or len(layers) % 2:
        return None
    *body, flat, head = layers
    convs, maps = body[0::2], body[1::2]
    if not all(type(c) is Conv for c in convs) or not all(type(m) is ExpMap for m in maps):
        return None
    first = 3 * math.sqrt(shape[0])
    if any(
        c.out_channels != 1 or c.kernel_size != 3 or c.stride != 1 or c.padding not in ("same", 1)
        or c.b_std != 0.0 or c.W_std != (first if i == 0 else 1.0) for i, c in enumerate(convs)
    ):  # fmt: skip
        return None
    if len({(m.c, m.gamma) for m in maps}) != 1:
        return None
    readout = {Flatten: "trace", GlobalAvgPool: "gap"}.get(type(flat))
    scale = math.sqrt(shape[1] * shape[2]) if readout == "trace" else 1.0
    if readout is None or type(head) is not Dense or head.W_std != scale or head.b_std != 0.0:
        return None
    if head.out != 1:
        return None
    return dict(depth=len(convs), c=maps[0].c, gamma=maps[0].gamma, readout=readout)


def fused_kernel(
    layer: Layer, in_shape: Sequence[int], get: str = "ntk"
) -> Callable[..., Tensor] | None:
    """The fused `nvk.kernels` function (a `functools.partial`) that computes this list's
    kernel `get` on inputs of `in_shape`, or None when there is none (module docstring)."""
    if get not in GETS:
        raise ValueError(f"fused_kernel: get must be one of {GETS}, got {get!r}")
    shape, layers = tuple(int(s) for s in in_shape), _layers(layer)
    if len(shape) == 1 and (params := _core_mlp(layers)) is not None:
        return config_partial(fc_ntk if get == "ntk" else fc_nngp, **params)
    if len(shape) == 3 and get == "ntk" and (params := _cntk_cnn(layers)) is not None:
        return bind_image_shape(config_partial(cntk, **params), shape)  # as KernelModule binds
    if len(shape) == 3 and get == "nngp" and (params := _cexp_list(layers, shape)) is not None:
        return bind_image_shape(config_partial(cexp, **params), shape)
    return None


class LayerKernel:
    """k(x1, x2=None) → (n, m) float64: the composed NNGP/NTK (`get`) of a layer list on inputs of
    `in_shape` (rows (n, ∏ in_shape) or (n, *in_shape)), computed by `nvk.layers.KernelFn`.

    Image pairs are processed in square blocks whose state tensors take about `chunk_bytes`
    each (None: 32 MiB on the CPU, 256 MiB on CUDA): a pair holds P = H·W numbers per tensor in
    the "diag" layout and P² in the "full" one (pooling), so whole Gram tiles would not fit.
    Vectors are computed in one call (the caller tiles them, `nvk.kernels.gram`).
    """

    def __init__(
        self,
        layer: Layer,
        in_shape: Sequence[int],
        get: str = "ntk",
        *,
        chunk_bytes: float | None = None,
    ) -> None:
        if get not in GETS:
            raise ValueError(f"LayerKernel: get must be one of {GETS}, got {get!r}")
        if get == "ntk" and not layer.has_ntk():
            names = ", ".join(map(repr, layer.kernel_only_layers()))
            raise ValueError(f"LayerKernel: {names} has no tangent kernel; use get='nngp'")
        self.fn = KernelFn(layer, in_shape)  # checks that the list ends in vector features
        self.layer, self.get, self.chunk_bytes = layer, get, chunk_bytes
        self.in_shape: Shape = self.fn.in_shape  # type: ignore[assignment]
        positions = math.prod(self.in_shape[1:]) if len(self.in_shape) == 3 else 0
        self.per_pair = positions**2 if layer.needs_full_layout() else positions

    def block(self, device: torch.device) -> int | None:
        """Edge of the square blocks of pairs for inputs on `device`; None for vectors."""
        if not self.per_pair:
            return None
        chunk = self.chunk_bytes
        if chunk is None:
            chunk = 2**25 if device.type == "cpu" else 2**28
        return max(1, math.isqrt(int(chunk // (self.per_pair * 8))))

    def __call__(self, x1: Tensor, x2: Tensor | None = None) -> Tensor:
        n, m = len(x1), len(x1) if x2 is None else len(x2)
        block = self.block(x1.device)
        if block is not None and block >= max(n, m):
            block = None
        return self.fn(x1, x2, get=self.get, block=block)

    @property
    def cache_key(self) -> str:
        """The kernel's identity for `nvk.kernels.gram` caches: the list, `in_shape`, `get`."""
        return f"nvk.layers.LayerKernel({self.layer!r}, in_shape={self.in_shape}, get={self.get})"

    def __repr__(self) -> str:
        return self.cache_key


def analytic_kernel(
    layer: Layer, in_shape: Sequence[int], get: str = "ntk", *, chunk_bytes: float | None = None
) -> Callable[..., Tensor]:
    """The list's analytic kernel `get` ("ntk" or "nngp") as a kernel model calls it: the fused
    function when there is one (`fused_kernel`), else the composed `LayerKernel`."""
    fused = fused_kernel(layer, in_shape, get)
    if fused is not None:
        return fused
    return LayerKernel(layer, in_shape, get, chunk_bytes=chunk_bytes)

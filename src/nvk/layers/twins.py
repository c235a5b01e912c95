"""From one layer list, the finite network and the kernel function (`twins`, `kernel_fn`).

    net, k = twins(serial(Dense(512), ReLU(), Dense(1, W_std=1.0)), in_shape=(10,))
    net(x)                   # (B, 10) → (B, 1), a freshly initialized nn.Module
    k(x1, x2, get="ntk")     # (N, 10), (M, 10) → (N, M) float64, the infinite-width NTK

The kernel function builds the input state (`nvk.layers.state.initial_state`), runs the
layers' transitions and returns the NNGP or NTK of the last (vector) layer. For images it
picks the same-position ("diag") layout unless some layer pools (`Layer.needs_full_layout`).
Large no-grad calls on vectors run the list compiled into one loop (`nvk.kernels.fused`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from nvk.kernels import fused
from nvk.layers.base import Layer, Shape
from nvk.layers.combinators import serial
from nvk.layers.state import LAYOUTS, KernelState, initial_state

GETS = ("ntk", "nngp")


def _as_layer(layers: Layer | Sequence[Layer]) -> Layer:
    return layers if isinstance(layers, Layer) else serial(*layers)


class KernelFn:
    """k(x1, x2=None, *, get="ntk", layout="auto", block=None) → (N, M), the analytic kernel.

    Inputs are vectors (N, D) or images (N, C, H, W) (or flattened rows (N, C·H·W) when
    `in_shape` is an image shape); x2=None means x1 (a Gram matrix with an exact diagonal).
    Computed in `dtype` (float64 by default) on the inputs' device.
    """

    def __init__(
        self, layer: Layer, in_shape: Sequence[int] | None = None, dtype=torch.float64
    ) -> None:
        self.layer = layer
        self.in_shape: Shape | None = None if in_shape is None else tuple(map(int, in_shape))
        self.dtype = dtype
        if self.in_shape is not None:
            self._check_out(self.in_shape)

    def _check_out(self, shape: Shape) -> None:
        out = self.layer.out_shape(shape)
        if isinstance(out, list) or len(out) != 1:
            raise ValueError(
                f"kernel_fn: the list must end in vector features (D,) for one kernel per pair "
                f"(add Flatten()/GlobalAvgPool() and a Dense readout), it ends in {out}"
            )

    def _inputs(self, x1: Tensor, x2: Tensor | None) -> tuple[Tensor, Tensor, bool]:
        same = x2 is None or x2 is x1
        xs = [x1] if same else [x1, x2]
        out = []
        for label, x in zip(("x1", "x2"), xs):
            if not isinstance(x, Tensor) or not x.is_floating_point():
                raise ValueError(f"kernel_fn: {label} must be a floating-point torch.Tensor")
            if self.in_shape is not None and len(self.in_shape) == 3 and x.ndim == 2:
                if x.shape[1] != math.prod(self.in_shape):
                    raise ValueError(
                        f"kernel_fn: {label} rows have {x.shape[1]} features, in_shape "
                        f"{self.in_shape} needs {math.prod(self.in_shape)}"
                    )
                x = x.reshape(len(x), *self.in_shape)
            if x.ndim not in (2, 4):
                raise ValueError(
                    f"kernel_fn: {label} must be vectors (N, D) or images (N, C, H, W), got "
                    f"shape {tuple(x.shape)}"
                )
            if self.in_shape is not None and tuple(x.shape[1:]) != self.in_shape:
                raise ValueError(
                    f"kernel_fn: {label} has per-input shape {tuple(x.shape[1:])}, the list was "
                    f"built for in_shape={self.in_shape}"
                )
            if not bool(torch.isfinite(x).all()):
                raise ValueError(f"kernel_fn: {label} holds non-finite value(s) (NaN/inf)")
            out.append(x.to(self.dtype))
        a = out[0]
        b = a if same else out[1]
        if a.shape[1:] != b.shape[1:]:
            raise ValueError(
                f"kernel_fn: input shapes differ: x1 rows {tuple(a.shape[1:])}, "
                f"x2 rows {tuple(b.shape[1:])}"
            )
        return a, b, same

    def _layout(self, x: Tensor, layout: str) -> str:
        if layout not in ("auto", *LAYOUTS):
            raise ValueError(
                f"kernel_fn: layout must be one of {('auto', *LAYOUTS)}, got {layout!r}"
            )
        if x.ndim == 2:
            if layout not in ("auto", "vector"):
                raise ValueError(f"kernel_fn: vector inputs use layout 'vector', got {layout!r}")
            return "vector"
        if layout == "vector":
            raise ValueError("kernel_fn: image inputs use layout 'full' or 'diag', not 'vector'")
        if layout == "auto":
            return "full" if self.layer.needs_full_layout() else "diag"
        return layout

    def state(
        self, x1: Tensor, x2: Tensor | None = None, *, get: str = "ntk", layout: str = "auto"
    ) -> KernelState:
        """The final `KernelState` (NNGP, NTK or None, self covariances) for (x1, x2)."""
        a, b, same, lay = self._prepare(x1, x2, get, layout)
        return _final_state(self.layer, a, b, same, lay, get)

    def _prepare(
        self, x1: Tensor, x2: Tensor | None, get: str, layout: str
    ) -> tuple[Tensor, Tensor, bool, str]:
        if get not in GETS:
            raise ValueError(f"kernel_fn: get must be one of {GETS}, got {get!r}")
        if get == "ntk" and not self.layer.has_ntk():
            names = ", ".join(map(repr, self.layer.kernel_only_layers()))
            raise ValueError(
                f"kernel_fn: get='ntk' is not available: {names} has no tangent kernel "
                "(a kernel-only, NNGP-like map); use get='nngp'"
            )
        a, b, same = self._inputs(x1, x2)
        self._check_out(tuple(a.shape[1:]))
        return a, b, same, self._layout(a, layout)

    def __call__(
        self,
        x1: Tensor,
        x2: Tensor | None = None,
        *,
        get: str = "ntk",
        layout: str = "auto",
        block: int | None = None,
    ) -> Tensor:
        """(N, M) NTK (get="ntk") or NNGP (get="nngp"); `block` rows/columns of pairs at a
        time (memory: the "full" layout holds block²·P² numbers per tensor)."""
        if block is None:
            a, b, same, lay = self._prepare(x1, x2, get, layout)
            if lay == "vector" and fused.use_fused(len(a) * len(b), a, b):
                return _vector_kernel_compiled(self.layer, a, b, same, get)
            s = _final_state(self.layer, a, b, same, lay, get)
            return s.ntk if get == "ntk" else s.nngp
        if not isinstance(block, int) or isinstance(block, bool) or block < 1:
            raise ValueError(f"kernel_fn: block must be an integer >= 1, got {block!r}")
        same = x2 is None or x2 is x1
        z = x1 if same else x2
        out = torch.empty(len(x1), len(z), dtype=self.dtype, device=x1.device)
        for r in range(0, len(x1), block):
            a = x1[r : r + block]
            for c in range(0, len(z), block):
                b = a if same and r == c else z[c : c + block]
                out[r : r + block, c : c + block] = self(a, b, get=get, layout=layout)
        return out

    def __repr__(self) -> str:
        return f"KernelFn({self.layer!r}, in_shape={self.in_shape})"


def _final_state(layer: Layer, a: Tensor, b: Tensor, same: bool, lay: str, get: str) -> KernelState:
    out = layer.kernel(initial_state(a, b, layout=lay, ntk=get == "ntk", same=same))
    if isinstance(out, tuple) or out.layout != "vector":  # pragma: no cover (out_shape)
        raise ValueError("kernel_fn: the list must end in vector features")
    return out


def _vector_kernel(layer: Layer, a: Tensor, b: Tensor, same: bool, get: str) -> Tensor:
    s = _final_state(layer, a, b, same, "vector", get)
    return s.ntk if get == "ntk" else s.nngp


# Vector lists are elementwise in the (N, M) entries at every layer: compiled, the whole list
# runs as one loop per tile (as `nvk.kernels.fused` does for the ReLU MLP); image lists keep
# the eager transitions (their patch sums would make Inductor recompute each map 9 times).
_vector_kernel_compiled = fused.compiled(_vector_kernel)


def kernel_fn(layers: Layer | Sequence[Layer], in_shape: Sequence[int] | None = None) -> KernelFn:
    """The analytic kernel function of a layer (or a list, composed with `serial`)."""
    return KernelFn(_as_layer(layers), in_shape)


class LayerNet(nn.Module):
    """The finite face of a layer list: (B, *in_shape) → (B, out); flattened rows (B, ∏ in_shape)
    are reshaped (as `nvk.nets.CNN` does)."""

    def __init__(self, body: nn.Module, in_shape: Shape, out_shape: Shape) -> None:
        super().__init__()
        self.body, self.in_shape, self.out_shape = body, in_shape, out_shape

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x.reshape(len(x), *self.in_shape))


def build_net(layers: Layer | Sequence[Layer], in_shape: Sequence[int]) -> LayerNet:
    """The freshly initialized finite network (global torch RNG) of a layer list."""
    layer = _as_layer(layers)
    shape = tuple(int(s) for s in in_shape)
    body, out = layer.build(shape)
    if isinstance(out, list) or len(out) != 1:
        raise ValueError(f"build_net: the list must end in vector features (D,), it ends in {out}")
    return LayerNet(body, shape, out)


def twins(
    layers: Layer | Sequence[Layer], in_shape: Sequence[int], *, seed: int | None = None
) -> tuple[LayerNet, KernelFn]:
    """(finite network, kernel function) of one layer list. `seed` draws the network's
    parameters from torch.manual_seed(seed) without touching the global RNG state."""
    layer = _as_layer(layers)
    k = KernelFn(layer, in_shape)
    if seed is None:
        return build_net(layer, in_shape), k
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_net(layer, in_shape), k

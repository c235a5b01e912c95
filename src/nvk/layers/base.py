"""The `Layer` interface: one object, two faces (Novak et al. 2019, neural-tangents' ``stax``).

A layer knows

* its **finite face**: ``build(in_shape) -> (nn.Module, out_shape)``, a freshly initialized
  module acting on batches (B, *in_shape) → (B, *out_shape) (NTK or standard parameterization,
  `nvk.arch` gives the formulas);
* its **infinite face**: ``kernel(state) -> state``, the exact transition of the
  infinite-width moments (`nvk.layers.state.KernelState`: NNGP, NTK, self covariances) that
  the module's outputs have as its width (channels) → ∞ with independent N(0, 1) weights.

Shapes are per input: (D,) for vectors, (C, H, W) for images. After `FanOut` a value is a
list of branches: a list of shapes, a tuple of states, a tuple of tensors.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

from torch import Tensor, nn

from nvk.layers.state import KernelState

Shape = tuple[int, ...]
Shapes = Shape | list[Shape]
State = KernelState | tuple[KernelState, ...]

PARAMETERIZATIONS = ("ntk", "standard")
BIAS_INITS = ("zero", "gaussian")


class NoFiniteTwinError(ValueError):
    """Raised by `build` of a kernel-only layer (e.g. `ExpMap`): no network has this kernel."""


class Layer(ABC):
    """A layer with a finite network face (`build`) and a kernel face (`kernel`).

    Subclasses implement `out_shape`, `build` and `kernel`; `needs_full_layout` says whether
    the kernel needs the full per-position covariances (pooling), and `has_ntk` whether it
    keeps a tangent kernel (False for kernel-only maps such as `ExpMap`).
    """

    @abstractmethod
    def out_shape(self, in_shape: Shapes) -> Shapes:
        """The per-input output shape for `in_shape`; ValueError when the layer cannot take it."""

    @abstractmethod
    def build(self, in_shape: Shapes) -> tuple[nn.Module, Shapes]:
        """A freshly initialized finite module (global torch RNG) and its output shape."""

    @abstractmethod
    def kernel(self, state: State) -> State:
        """The infinite-width transition of the kernel state."""

    def needs_full_layout(self) -> bool:
        """True when `kernel` reads off-diagonal positions (p ≠ p') that the "diag" layout drops."""
        return False

    def has_ntk(self) -> bool:
        """False when the layer has no tangent kernel (kernel-only maps): NNGP-only lists."""
        return True

    def kernel_only_layers(self) -> list[Layer]:
        """The layers of this (composite) layer without a tangent kernel / finite twin."""
        return [] if self.has_ntk() else [self]

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


# -- shape and state bookkeeping ---------------------------------------------------------------
def single_shape(in_shape: Shapes, layer: object) -> Shape:
    """`in_shape` as one shape; ValueError for branches (a list of shapes)."""
    if isinstance(in_shape, list):
        raise ValueError(
            f"{type(layer).__name__} takes one input but got {len(in_shape)} branches; merge "
            "them with FanInSum() or apply per-branch layers with parallel(...)"
        )
    return tuple(int(s) for s in in_shape)


def single_state(state: State, layer: object) -> KernelState:
    """`state` as one KernelState; ValueError for branches (a tuple of states)."""
    if isinstance(state, tuple):
        raise ValueError(
            f"{type(layer).__name__} takes one input but got {len(state)} branches; merge "
            "them with FanInSum() or apply per-branch layers with parallel(...)"
        )
    return state


def require_layout(state: KernelState, layer: object, allowed: Sequence[str], fix: str) -> None:
    """ValueError naming the layer, the layout it got and how to fix it."""
    if state.layout not in allowed:
        raise ValueError(
            f"{type(layer).__name__} cannot run on the {state.layout!r} layout (it needs one of "
            f"{tuple(allowed)}): {fix}"
        )


# -- parameter validation ----------------------------------------------------------------------
def check_int(value: int, what: str, layer: str, *, minimum: int = 1) -> int:
    """An integer ≥ `minimum`, else ValueError naming the layer and the field."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{layer}: {what} must be an integer >= {minimum}, got {value!r}")
    return value


def check_float(value: float, what: str, layer: str, *, positive: bool) -> float:
    """A finite number > 0 (`positive`) or ≥ 0, else ValueError naming the layer and field."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = math.nan
    if not math.isfinite(v) or v < 0 or (positive and v == 0):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"{layer}: {what} must be a finite number {bound}, got {value!r}")
    return v


def check_choice(value: str, what: str, layer: str, choices: Sequence[str]) -> str:
    """One of `choices`, else ValueError listing them."""
    if value not in choices:
        raise ValueError(f"{layer}: {what} must be one of {tuple(choices)}, got {value!r}")
    return value


def shift_(t: Tensor, b: float) -> Tensor:
    """t + b in place (`t` must be a fresh temporary of the caller); no pass when b = 0."""
    return t.add_(b) if b else t


# -- small finite modules ----------------------------------------------------------------------
class FnModule(nn.Module):
    """A parameter-free function as a module (activations, pooling): x ↦ fn(x)."""

    def __init__(self, fn: Callable[[Tensor], Tensor], name: str) -> None:
        super().__init__()
        self.fn, self.name = fn, name

    def forward(self, x: Tensor) -> Tensor:
        return self.fn(x)

    def extra_repr(self) -> str:
        return self.name

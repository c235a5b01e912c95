"""Composition: `serial`, and `FanOut` / `parallel` / `FanInSum` for residual blocks.

A residual block (He et al. 2016) is

    serial(FanOut(2), parallel(serial(ReLU(), Conv(n), ReLU(), Conv(n)), Identity()), FanInSum())

(pre-activation form: the skip carries a Conv's output, Gaussian in the limit, so a ReLU after
the sum still sees Gaussian pre-activations; `FanInSum` of a non-Gaussian branch is fine for
the next Dense/Conv but an activation right after it raises).

Kernels of a sum of branches add (Novak et al. 2019, neural-tangents' FanInSum; Yang 2019):
for f = Σ_i f_i, E[f(x) f(z)] = Σ_i E[f_i(x) f_i(z)] + Σ_{i≠j} E[f_i(x) f_j(z)], and the cross
terms vanish when all branches but at most one end in a zero-mean linear layer (Dense/Conv) with
weights of their own, W independent of everything else: E[W]·(…) = 0. The same argument
removes the cross terms of the tangent kernel (gradients of the shared earlier layers), so
Θ = Σ_i Θ_i. Two branches without such a layer (e.g. Identity and Identity, or Identity and
ReLU ∘ Conv) are correlated and `FanInSum` raises; the state tracks this as `fresh`.
"""

from __future__ import annotations

from collections.abc import Iterable

from torch import Tensor, nn

from nvk.layers.base import Layer, Shapes, State, check_int, single_shape, single_state


def _flatten(layers: Iterable[Layer | Iterable[Layer]]) -> list[Layer]:
    out: list[Layer] = []
    for layer in layers:
        if isinstance(layer, Layer):
            out.append(layer)
        elif isinstance(layer, list | tuple):
            out.extend(_flatten(layer))
        else:
            raise ValueError(f"serial: expected Layer objects, got {type(layer).__name__}")
    return out


class Serial(Layer):
    """Layers applied in order (f = f_L ∘ … ∘ f_1); both faces compose. Build with `serial`."""

    def __init__(self, layers: list[Layer]) -> None:
        if not layers:
            raise ValueError("serial: needs at least one layer")
        self.layers = layers

    def out_shape(self, in_shape: Shapes) -> Shapes:
        for layer in self.layers:
            in_shape = layer.out_shape(in_shape)
        return in_shape

    def build(self, in_shape: Shapes):
        """`nn.Sequential` of the layers' modules (built in order: one RNG draw order)."""
        modules = []
        for layer in self.layers:
            module, in_shape = layer.build(in_shape)
            modules.append(module)
        return nn.Sequential(*modules), in_shape

    def kernel(self, state: State) -> State:
        """The layers' transitions in order."""
        for layer in self.layers:
            state = layer.kernel(state)
        return state

    def needs_full_layout(self) -> bool:
        return any(layer.needs_full_layout() for layer in self.layers)

    def has_ntk(self) -> bool:
        return all(layer.has_ntk() for layer in self.layers)

    def kernel_only_layers(self) -> list[Layer]:
        return [k for layer in self.layers for k in layer.kernel_only_layers()]

    def __repr__(self) -> str:
        return "serial(" + ", ".join(map(repr, self.layers)) + ")"


def serial(*layers: Layer | Iterable[Layer]) -> Serial:
    """Compose layers: serial(Dense(512), ReLU(), Dense(1)) (nested lists are flattened)."""
    return Serial(_flatten(layers))


class _FanOutModule(nn.Module):
    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        return (x,) * self.n


class FanOut(Layer):
    """One input → n identical branches (x, …, x); the state is copied to n branch states
    (marked not `fresh`: the branches are still the same function)."""

    def __init__(self, n: int = 2) -> None:
        self.n = check_int(n, "n", "FanOut", minimum=1)

    def out_shape(self, in_shape: Shapes) -> Shapes:
        return [single_shape(in_shape, self)] * self.n

    def build(self, in_shape: Shapes):
        """A module returning the tuple (x,) * n."""
        return _FanOutModule(self.n), self.out_shape(in_shape)

    def kernel(self, state: State) -> State:
        """n copies of the state (tensors shared, not copied)."""
        s = single_state(state, self).replace(fresh=False)
        return (s,) * self.n


class _ParallelModule(nn.Module):
    def __init__(self, modules: list[nn.Module]) -> None:
        super().__init__()
        self.branches = nn.ModuleList(modules)

    def forward(self, xs: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        return tuple(m(x) for m, x in zip(self.branches, xs, strict=True))


class Parallel(Layer):
    """Layer i applied to branch i (n branches in, n out). Build with `parallel`."""

    def __init__(self, layers: list[Layer]) -> None:
        if not layers:
            raise ValueError("parallel: needs at least one layer")
        self.layers = layers

    def _branches(self, value, what: str) -> list:
        if not isinstance(value, list | tuple) or len(value) != len(self.layers):
            got = len(value) if isinstance(value, list | tuple) else "one input"
            raise ValueError(
                f"parallel: {len(self.layers)} layers need {len(self.layers)} branches "
                f"(use FanOut({len(self.layers)}) first), got {got} ({what})"
            )
        return list(value)

    def out_shape(self, in_shape: Shapes) -> Shapes:
        shapes = self._branches(in_shape, "shapes")
        return [layer.out_shape(s) for layer, s in zip(self.layers, shapes)]

    def build(self, in_shape: Shapes):
        """A module applying module i to input i of a tuple."""
        shapes = self._branches(in_shape, "shapes")
        built = [layer.build(s) for layer, s in zip(self.layers, shapes)]
        return _ParallelModule([m for m, _ in built]), [s for _, s in built]

    def kernel(self, state: State) -> State:
        """Transition i on branch state i."""
        states = self._branches(state, "states")
        return tuple(layer.kernel(s) for layer, s in zip(self.layers, states))

    def needs_full_layout(self) -> bool:
        return any(layer.needs_full_layout() for layer in self.layers)

    def has_ntk(self) -> bool:
        return all(layer.has_ntk() for layer in self.layers)

    def kernel_only_layers(self) -> list[Layer]:
        return [k for layer in self.layers for k in layer.kernel_only_layers()]

    def __repr__(self) -> str:
        return "parallel(" + ", ".join(map(repr, self.layers)) + ")"


def parallel(*layers: Layer) -> Parallel:
    """parallel(A, B): branch 0 through A, branch 1 through B (use `serial` inside a branch)."""
    for layer in layers:
        if not isinstance(layer, Layer):
            raise ValueError(f"parallel: expected Layer objects, got {type(layer).__name__}")
    return Parallel(list(layers))


class _SumModule(nn.Module):
    def forward(self, xs: tuple[Tensor, ...]) -> Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


class FanInSum(Layer):
    """Branches (x_1, …, x_n) → Σ_i x_i; kernels add: Σ' = Σ_i Σ_i, Θ' = Σ_i Θ_i (module
    docstring: valid when at most one branch lacks a zero-mean linear layer of its own since
    the FanOut; otherwise ValueError)."""

    def _shapes(self, in_shape: Shapes) -> list:
        if not isinstance(in_shape, list):
            raise ValueError("FanInSum: needs branches (FanOut(n), parallel(...)), got one input")
        return in_shape

    def out_shape(self, in_shape: Shapes) -> Shapes:
        shapes = self._shapes(in_shape)
        if any(tuple(s) != tuple(shapes[0]) for s in shapes):
            raise ValueError(f"FanInSum: branch shapes differ: {shapes}")
        return tuple(shapes[0])

    def build(self, in_shape: Shapes):
        """A module summing a tuple of tensors."""
        return _SumModule(), self.out_shape(in_shape)

    def kernel(self, state: State) -> State:
        """Σ, Θ and the self covariances summed over branches (ValueError for correlated ones)."""
        if not isinstance(state, tuple):
            raise ValueError("FanInSum: needs branches (FanOut(n), parallel(...)), got one input")
        self.out_shape([s.shape for s in state])
        if len({s.layout for s in state}) > 1:
            raise ValueError(f"FanInSum: branch layouts differ: {[s.layout for s in state]}")
        stale = [i for i, s in enumerate(state) if not s.fresh]
        if len(stale) > 1:
            raise ValueError(
                f"FanInSum: branches {stale} have no zero-mean linear layer (Dense/Conv) of "
                "their own since the FanOut, so they are correlated and their kernels do not "
                "add; end all branches but one with a Dense or Conv"
            )
        first = state[0]
        ntk = None if any(s.ntk is None for s in state) else sum(s.ntk for s in state)
        cov1 = sum(s.cov1 for s in state)
        return first.replace(
            nngp=sum(s.nngp for s in state),
            ntk=ntk,
            cov1=cov1,
            cov2=cov1 if first.same else sum(s.cov2 for s in state),
            fresh=not stale,
            gaussian=all(s.gaussian for s in state),
        )

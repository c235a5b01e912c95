"""The solver interface kernel models use: fit on kernel values, predict scores, save state.

A solver never sees a kernel's name: it gets kernel values, a callable k(a (n, D), b (m, D))
-> (n, m) (float64 by default; `KernelValues`), and the training data. Solvers that evaluate
the kernel themselves (GPyTorch's `gp`, FALKON's own tiles) take its pointwise formula from
`kernel_formula`: the `formula` a wrapper declares (`HasFormula`, e.g. a kernel model's
`nvk.models.kernel.TiledKernel`), else the callable itself; they never unwrap anything else.
`predict` returns scores (M, C) for classification (argmax = class) or predictions (M, T) for
regression. `state_dict` holds only tensors, so the state travels inside a Lightning checkpoint
and reloads with `weights_only`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

from nvk.data.base import DataInfo

Kernel = Callable[[Tensor, Tensor], Tensor]


@runtime_checkable
class KernelValues(Protocol):
    """What every solver receives: k(a (n, …), b (m, …)) → (n, m) kernel values."""

    def __call__(self, a: Tensor, b: Tensor, /) -> Tensor: ...


@runtime_checkable
class HasFormula(KernelValues, Protocol):
    """Kernel values that also expose their pointwise formula, for solvers that wrap the kernel
    themselves (GPyTorch, KeOps, their own tiling).

    `formula` is the configured pure function k(x1 (…, N, D), x2 (…, M, D)) → (…, N, M),
    e.g. `partial(laplace, c=0.5)` (a registered one has a `nvk.kernels.registry.KernelEntry`:
    `kernel_entry(formula)`); calling the wrapper and calling `formula` on flattened float64
    rows give the same values up to rounding (the wrapper may tile, cast or move them)."""

    formula: Callable[..., Tensor]


def kernel_formula(kernel: Kernel) -> Callable[..., Tensor]:
    """The pointwise formula behind `kernel`: its declared `formula` (`HasFormula`), or `kernel`
    itself (a plain callable of kernel values is its own formula)."""
    return kernel.formula if isinstance(kernel, HasFormula) else kernel


class Solver:
    """Base class: subclasses implement `fit`, `predict`, and list their state tensors."""

    state_keys: tuple[str, ...] = ()
    # what to try when predictions come out NaN/inf (nvk.models.guards names it in the error)
    stability_hint: str = ""

    def fit(
        self,
        kernel: Kernel,
        x: Tensor,
        y: Tensor,
        info: DataInfo,
        val: tuple[Tensor, Tensor] | None = None,
    ) -> None:
        raise NotImplementedError

    def predict(self, kernel: Kernel, x: Tensor) -> Tensor:
        raise NotImplementedError

    def loss(self, scores: Tensor, y: Tensor, info: DataInfo) -> float | None:
        """The solver's own training objective on (scores, y), logged as `<split>/loss`;
        None = the shared default (cross-entropy / MSE)."""
        return None

    @property
    def fitted(self) -> bool:
        return all(getattr(self, k, None) is not None for k in self.state_keys)

    def state_dict(self) -> dict[str, Tensor]:
        return {k: getattr(self, k) for k in self.state_keys if getattr(self, k, None) is not None}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        missing = [k for k in self.state_keys if k not in state]
        if missing:
            raise KeyError(f"{type(self).__name__} state lacks {missing}")
        for k in self.state_keys:
            setattr(self, k, state[k])

    def _require_fitted(self) -> None:
        if not self.fitted:
            raise RuntimeError(f"{type(self).__name__} is not fitted yet")


def flat64(x: Tensor) -> Tensor:
    """(N, …) -> (N, D) float64: fully connected kernels see flattened inputs."""
    return x.reshape(len(x), -1).to(torch.float64)


def train_gram(kernel: Kernel, x: Tensor) -> tuple[Tensor, Tensor]:
    """(X, K(X, X)) for x (N, …): flattened float64, after checking the N × N matrix fits."""
    from nvk.solvers.memory import check_gram_memory

    X = flat64(x)
    check_gram_memory(len(X), device=X.device)
    return X, kernel(X, X)

"""The solver interface kernel models use: fit on kernel values, predict scores, save state.

A solver never sees a kernel's name: it gets a callable k(a (n, D), b (m, D)) -> (n, m)
(float64 by default) and the training data. `predict` returns scores (M, C) for
classification (argmax = class) or predictions (M, T) for regression. `state_dict` holds only
tensors, so the state travels inside a Lightning checkpoint and reloads with `weights_only`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from nvk.data.base import DataInfo

Kernel = Callable[[Tensor, Tensor], Tensor]


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

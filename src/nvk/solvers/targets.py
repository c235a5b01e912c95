"""Turning labels into regression targets for kernel regression, and scores back into outputs."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

TargetEncoding = Literal["onehot", "centered", "raw"]
_ENCODINGS = ("onehot", "centered", "raw")


def encode_targets(
    y: torch.Tensor, *, task: str, num_classes: int, encoding: TargetEncoding = "onehot"
) -> torch.Tensor:
    """Targets Y: (N, T) float64.

    Classification: ``onehot`` (e_y), ``centered`` (e_y − 1/C, Arora et al.'s CIFAR setting);
    regression: the targets as a column (any ``encoding``; ``raw`` is accepted for both and means
    one-hot for classification).
    """
    if encoding not in _ENCODINGS:
        raise ValueError(f"unknown target encoding {encoding!r}; expected one of {_ENCODINGS}")
    if not torch.isfinite(y.double()).all():
        raise ValueError("labels/targets contain NaN or inf")
    if task == "regression":
        return y.double().reshape(len(y), -1)
    Y = F.one_hot(y.long(), num_classes).double()
    if encoding == "centered":
        Y = Y - 1.0 / num_classes
    return Y


def squared_loss(
    scores: torch.Tensor, y: torch.Tensor, *, task: str, num_classes: int, encoding: TargetEncoding
) -> float:
    """Mean squared error of scores (M, T) to the encoded targets: the objective of the
    regression-type solvers (krr, falkon, gp), logged as `<split>/loss`."""
    Y = encode_targets(y, task=task, num_classes=num_classes, encoding=encoding)
    # (N,) regression scores against (N, 1) targets must not broadcast to (N, N)
    return float((scores.reshape(Y.shape) - Y.to(scores)).pow(2).mean())

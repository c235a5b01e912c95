"""Fail loudly on NaN/inf: a diverged run stops with an error instead of recording NaN metrics.

`FiniteLossGuard` (a Lightning callback) checks every training batch's loss and each validation
loss during fit; `nvk.run.train` always adds it, whatever `callbacks=` chooses (`callbacks=none`
included). `check_finite_predictions` is the same check for kernel models' predictions
(`nvk.models.KernelModule.forward`). Both raise a `NonFiniteError` naming where it happened and
what to try, so the job exits non-zero: a Hydra sweep marks it failed, an Optuna search records
the trial as FAIL, and no `metrics.json` is written.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from lightning.pytorch.trainer.states import TrainerFn
from torch import Tensor

NET_HINTS = (
    "Try a smaller learning rate ({lr}), gradient clipping (trainer.gradient_clip_val=1.0), "
    "float64 (trainer.precision=64-true), or check the data for extreme values."
)


class NonFiniteError(RuntimeError):
    """A run produced NaN/inf where a number was needed (a loss, kernel predictions).

    Takes one message argument only, so it pickles (joblib launcher workers) unchanged.
    """


class NonFiniteLossError(NonFiniteError):
    """A network's train/loss (or val/loss during fit) became NaN/inf: training diverged."""


class NonFinitePredictionError(NonFiniteError):
    """A kernel model's fitted solver predicts NaN/inf."""


def _kind(t: Tensor) -> str:
    return "nan" if bool(torch.isnan(t).any()) else "inf"


def _lr_hint(trainer: L.Trainer) -> str:
    try:
        lr = trainer.optimizers[0].param_groups[0]["lr"]
    except (AttributeError, IndexError, KeyError, TypeError):
        return "model.optimizer.lr"
    return f"model.optimizer.lr, now {lr:g}"


class FiniteLossGuard(L.Callback):
    """Stop training at the first batch whose loss is NaN/inf, with a `NonFiniteLossError`.

    The per-batch check is one scalar `isfinite` on the loss Lightning already returns (no
    extra forward pass). `val/loss` is checked after each validation during fit too: weights
    wrecked by an epoch's last steps show there first (before any checkpoint of them is
    saved: Lightning runs checkpoint callbacks last). Modules that return no loss (kernel
    models: one solve, manual optimization) are skipped; their predictions are checked.
    """

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if (
            not pl_module.automatic_optimization
            or not isinstance(loss, Tensor)
            or bool(torch.isfinite(loss).all())
        ):
            return
        raise NonFiniteLossError(
            f"train/loss is {_kind(loss)} at epoch {trainer.current_epoch}, batch {batch_idx} "
            f"(global step {trainer.global_step}): training diverged. "
            + NET_HINTS.format(lr=_lr_hint(trainer))
        )

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        fitting = trainer.state.fn == TrainerFn.FITTING and not trainer.sanity_checking
        if not pl_module.automatic_optimization or not fitting:
            return
        loss = trainer.callback_metrics.get("val/loss")
        if not isinstance(loss, Tensor) or bool(torch.isfinite(loss).all()):
            return
        raise NonFiniteLossError(
            f"val/loss is {_kind(loss)} after epoch {trainer.current_epoch} "
            f"(global step {trainer.global_step}): training diverged. "
            + NET_HINTS.format(lr=_lr_hint(trainer))
        )


def with_finite_loss_guard(callbacks: list[Any]) -> list[Any]:
    """`callbacks` plus a `FiniteLossGuard` unless one is configured already."""
    if any(isinstance(c, FiniteLossGuard) for c in callbacks):
        return callbacks
    return [*callbacks, FiniteLossGuard()]


def check_finite_predictions(out: Tensor, *, solver: Any, kernel: str) -> Tensor:
    """`out` unchanged if every entry is finite, else a `NonFinitePredictionError` naming the
    solver, the kernel and the solver's own remedy (`Solver.stability_hint`)."""
    finite = torch.isfinite(out)
    if bool(finite.all()):
        return out
    bad = int((~finite).sum())
    hint = getattr(solver, "stability_hint", "")
    raise NonFinitePredictionError(
        f"{type(solver).__name__} with kernel {kernel} predicts {_kind(out)} "
        f"({bad} of {out.numel()} outputs of a batch). Try {hint + ', ' if hint else ''}"
        "other kernel parameters (kernel.*), or check the data for extreme values."
    )

"""Validation/test on whole splits, shared by networks and kernel models.

Outputs of every batch are gathered and the metrics computed once per epoch with
`nvk.models.metrics.compute_metrics`, so networks and kernel models report identical keys and
exact (not batch-averaged) values.
"""

from __future__ import annotations

import torch
from torch import Tensor


class EvalMixin:
    """Adds validation/test steps to a LightningModule with `self.info` and `forward`."""

    def split_loss(self, out: Tensor, y: Tensor) -> float | None:
        """The model's own `<split>/loss`; None = cross-entropy / MSE."""
        return None

    def _eval_buffers(self) -> dict[str, list[tuple[Tensor, Tensor]]]:
        if not hasattr(self, "_eval_outputs"):
            self._eval_outputs: dict[str, list[tuple[Tensor, Tensor]]] = {"val": [], "test": []}
        return self._eval_outputs

    def _eval_step(self, split: str, batch: tuple[Tensor, Tensor]) -> None:
        if getattr(self, "fitted", True) is False:  # kernel models before their fit
            return
        x, y = batch
        self._eval_buffers()[split].append((self(x).detach(), y.detach()))

    def _eval_epoch_end(self, split: str) -> None:
        from nvk.models.metrics import compute_metrics

        outs = self._eval_buffers()[split]
        if not outs:
            return
        out = torch.cat([o for o, _ in outs])
        y = torch.cat([t for _, t in outs])
        outs.clear()
        if self.info.task == "regression" and out.numel() == y.numel():
            out = out.reshape(y.shape)
        metrics = compute_metrics(split, out, y, self.info.task, auc=split == "test")
        loss = self.split_loss(out, y)
        if loss is not None:
            metrics[f"{split}/loss"] = float(loss)
        self.log_dict(metrics, prog_bar=split == "val")

    def validation_step(self, batch: tuple[Tensor, Tensor], _: int) -> None:
        self._eval_step("val", batch)

    def on_validation_epoch_end(self) -> None:
        self._eval_epoch_end("val")

    def test_step(self, batch: tuple[Tensor, Tensor], _: int) -> None:
        self._eval_step("test", batch)

    def on_test_epoch_end(self) -> None:
        self._eval_epoch_end("test")

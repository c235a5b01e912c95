"""Metric keys shared by every model, network or kernel, so runs sit side by side.

| key          | meaning                                             |
|--------------|-----------------------------------------------------|
| train/loss   | training loss (cross-entropy or MSE), per epoch     |
| val/loss     | validation loss                                     |
| val/acc      | validation accuracy (classification)                |
| val/mse      | validation mean squared error (regression)          |
| test/loss    | test loss                                           |
| test/acc     | test accuracy (classification)                      |
| test/auc     | test ROC AUC (binary; macro one-vs-rest multiclass) |
| test/mse     | test mean squared error (regression)                |

Study metrics use slash-separated names without ``=`` (e.g. ``freq/k4/residual``).
Keys a model cannot produce are simply absent.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torchmetrics.functional.classification import binary_auroc, multiclass_auroc

TRAIN_LOSS = "train/loss"
METRIC_KEYS = (
    "train/loss",
    "val/loss",
    "val/acc",
    "val/mse",
    "test/loss",
    "test/acc",
    "test/auc",
    "test/mse",
)


def classification_metrics(
    prefix: str, logits: torch.Tensor, y: torch.Tensor, *, auc: bool = True
) -> dict[str, float]:
    """Loss, accuracy (and AUC) of scores logits: (N, C) against labels y: (N,)."""
    logits, y = logits.detach().float(), y.detach().long()
    out = {
        f"{prefix}/loss": F.cross_entropy(logits, y).item(),
        f"{prefix}/acc": (logits.argmax(dim=1) == y).float().mean().item(),
    }
    n_classes = logits.shape[1]
    if auc and len(torch.unique(y)) > 1:
        probs = logits.softmax(dim=1)
        if n_classes == 2:
            out[f"{prefix}/auc"] = binary_auroc(probs[:, 1], y).item()
        else:
            out[f"{prefix}/auc"] = multiclass_auroc(probs, y, num_classes=n_classes).item()
    return out


def regression_metrics(prefix: str, pred: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """MSE of predictions pred: (N, T) or (N,) against targets y of the same numel."""
    pred, y = pred.detach().float().reshape(len(pred), -1), y.detach().float().reshape(len(y), -1)
    mse = F.mse_loss(pred, y).item()
    return {f"{prefix}/loss": mse, f"{prefix}/mse": mse}


def compute_metrics(
    prefix: str, out: torch.Tensor, y: torch.Tensor, task: str, *, auc: bool = True
) -> dict[str, float]:
    """Metrics for `task` ("classification" or "regression") under `prefix` ("val", "test")."""
    if task == "classification":
        return classification_metrics(prefix, out, y, auc=auc)
    if task == "regression":
        return regression_metrics(prefix, out, y)
    raise ValueError(f"unknown task {task!r}; expected 'classification' or 'regression'")

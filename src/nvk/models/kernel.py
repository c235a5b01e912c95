"""`model=ntk|nngp|laplace|gaussian|gamma_exp|h_laplace|h_gaussian|h_gamma_exp`: kernel models.

`KernelModule` fits exact kernel ridge regression in float64 in its first training step,

    α = (K(X, X) + λ I)⁻¹ Y,    f(x) = K(x, X) α,

Y one-hot (classification) or the raw targets (regression), then stops training. Validation
and test predict batches against the stored training set and log the same metric keys as the
networks (`nvk.models.metrics`). The training inputs and α are buffers, so checkpoints reload
into a freshly built module (`evaluate.py`). The solver is a small internal function; issue 6
replaces it with the `solver/` configs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor

from nvk.data.base import DataInfo
from nvk.kernels.gram import gram, kernel_key
from nvk.models.metrics import compute_metrics

log = logging.getLogger("nvk")

Kernel = Callable[..., Tensor]


def solve_krr(
    K: Tensor, Y: Tensor, *, ridge: float = 0.0, jitter: float = 1e-10, max_jitter: float = 1e-4
) -> tuple[Tensor, float]:
    """α solving (K + λI + εI) α = Y by Cholesky; K (N, N), Y (N, T) → (α (N, T), ε used).

    ε = 0 unless the factorization fails; then ε = jitter·mean(diag K), ×10 per retry up to
    max_jitter·mean(diag K); past that a least-squares solve (pseudo-inverse) is used.
    """
    if ridge < 0 or jitter < 0:
        raise ValueError(f"ridge and jitter must be >= 0, got ridge={ridge}, jitter={jitter}")
    n = K.shape[0]
    eye = torch.eye(n, dtype=K.dtype, device=K.device)
    A = K + ridge * eye
    scale = float(K.diagonal().mean()) if n else 1.0
    eps, rel = 0.0, jitter
    while True:
        chol, info = torch.linalg.cholesky_ex(A + eps * eye)
        if int(info) == 0:
            return torch.cholesky_solve(Y, chol), eps
        if rel > max_jitter or rel == 0:
            break
        eps, rel = rel * scale, rel * 10
    log.warning("kernel matrix not positive definite even with jitter; using lstsq")
    return torch.linalg.lstsq(A, Y).solution, eps


class KernelModule(L.LightningModule):
    """Exact kernel regression with any kernel k(x1 (n, D), x2 (m, D)) → (n, m).

    Args:
        info: the data's `DataInfo` (task, number of outputs).
        kernel: the kernel (Hydra builds it from conf/kernel/*.yaml as a functools.partial).
        ridge: λ ≥ 0 (0 = interpolation).
        jitter: relative diagonal jitter tried if the Cholesky factorization fails.
        tile: Gram tile edge (`nvk.kernels.gram`).
    """

    def __init__(
        self,
        info: DataInfo,
        kernel: Kernel,
        *,
        ridge: float = 0.0,
        jitter: float = 1e-10,
        tile: int = 2048,
    ) -> None:
        super().__init__()
        if ridge < 0 or jitter < 0:
            raise ValueError(f"ridge and jitter must be >= 0, got ridge={ridge}, jitter={jitter}")
        self.info, self.kernel = info, kernel
        self.ridge, self.jitter, self.tile = float(ridge), float(jitter), int(tile)
        self.automatic_optimization = False
        d, o = info.in_features, info.num_outputs
        self.register_buffer("x_train", torch.zeros(0, d, dtype=torch.float64))
        self.register_buffer("alpha", torch.zeros(0, o, dtype=torch.float64))
        self.register_buffer("jitter_used", torch.zeros((), dtype=torch.float64))
        # the solve counts as one optimizer step (global_step 1), so checkpoint callbacks save it
        self._step_marker = torch.nn.Parameter(torch.zeros(0), requires_grad=False)
        self._outputs: dict[str, list[tuple[Tensor, Tensor]]] = {"val": [], "test": []}
        try:
            kernel_desc = kernel_key(kernel)
        except ValueError:
            kernel_desc = repr(kernel)
        self.save_hyperparameters(
            {"kernel": kernel_desc, "ridge": ridge, "jitter": jitter, "data": info.__dict__}
        )

    # -- fitting ------------------------------------------------------------------------------
    @property
    def fitted(self) -> bool:
        return self.alpha.numel() > 0

    def targets(self, y: Tensor) -> Tensor:
        """One-hot (N, C) for classification, (N, T) targets for regression, float64."""
        if self.info.task == "classification":
            return F.one_hot(y.long(), self.info.num_outputs).to(torch.float64)
        return y.reshape(len(y), -1).to(torch.float64)

    def fit_data(self, x: Tensor, y: Tensor) -> None:
        """Solve for α on x (N, …), y (N,) or (N, T)."""
        x = x.reshape(len(x), -1).to(device=self.device, dtype=torch.float64)
        K = gram(self.kernel, x, tile=self.tile, device=self.device).to(self.device)
        alpha, eps = solve_krr(
            K, self.targets(y).to(self.device), ridge=self.ridge, jitter=self.jitter
        )
        self.x_train, self.alpha = x, alpha
        self.jitter_used = torch.tensor(eps, dtype=torch.float64, device=self.device)

    def training_step(self, batch: Any, _: int) -> None:
        if not self.fitted:
            dm = getattr(self.trainer, "datamodule", None)
            if dm is None or not hasattr(dm, "full_batch"):
                raise RuntimeError("KernelModule needs a datamodule with full_batch()")
            data = dm.full_batch()
            self.fit_data(data.x_train, data.y_train)
            self.optimizers().step()  # no-op (lr 0, no gradients); advances global_step
        self.trainer.should_stop = True  # one pass is the whole fit

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD([self._step_marker], lr=0.0)

    # -- prediction ---------------------------------------------------------------------------
    def forward(self, x: Tensor) -> Tensor:
        """Predictions (B, O) = K(x, X_train) α, float64."""
        if not self.fitted:
            raise RuntimeError("KernelModule is not fitted yet")
        x = x.reshape(len(x), -1).to(device=self.x_train.device, dtype=torch.float64)
        k = gram(self.kernel, x, self.x_train, tile=self.tile, device=self.x_train.device)
        return k.to(self.alpha.device) @ self.alpha

    def _eval_step(self, split: str, batch: tuple[Tensor, Tensor]) -> None:
        if not self.fitted:  # sanity-check validation before the fit
            return
        x, y = batch
        self._outputs[split].append((self(x).detach(), y.detach()))

    def _eval_epoch_end(self, split: str) -> None:
        outs = self._outputs[split]
        if not outs:
            return
        out = torch.cat([o for o, _ in outs])
        y = torch.cat([t for _, t in outs])
        outs.clear()
        if self.info.task == "regression":
            out = out.reshape(y.shape) if out.numel() == y.numel() else out
        metrics = compute_metrics(split, out, y, self.info.task, auc=split == "test")
        self.log_dict(metrics, prog_bar=split == "val")

    def validation_step(self, batch: tuple[Tensor, Tensor], _: int) -> None:
        self._eval_step("val", batch)

    def on_validation_epoch_end(self) -> None:
        self._eval_epoch_end("val")

    def test_step(self, batch: tuple[Tensor, Tensor], _: int) -> None:
        self._eval_step("test", batch)

    def on_test_epoch_end(self) -> None:
        self._eval_epoch_end("test")

    # -- checkpoints --------------------------------------------------------------------------
    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Resize the buffers to the fitted shapes before the state dict is loaded."""
        state = checkpoint.get("state_dict", {})
        for name in ("x_train", "alpha"):
            if name in state:
                setattr(self, name, torch.empty_like(state[name], device=self.device))

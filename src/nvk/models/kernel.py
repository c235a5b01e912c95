"""`model=ntk|nngp|laplace|gaussian|gamma_exp|h_laplace|h_gaussian|h_gamma_exp`: kernel models.

A `KernelModule` pairs a kernel (a configured pure function from `conf/kernel/`) with a solver
(`conf/solver/`: krr, svc, falkon, gp). Training is one step: the solver fits on the data
module's `full_batch()` (train split; the val split too where the solver selects
hyperparameters), then training stops. Validation and test predict batches against the fitted
state and log the same metric keys as the networks (`nvk.models.metrics`); `<split>/loss` is the
solver's own objective (squared loss for krr/falkon/gp, hinge for svc). The solver's state is
stored in the checkpoint, so `evaluate.py` reloads it into a freshly built module.

Kernels see inputs flattened to (N, D) in float64 (images included) through `nvk.kernels.gram`,
so Gram blocks are tiled with bounded memory on the module's device. Image kernels
(`nvk.kernels.cntk`, `cexp`) get the data's (C, H, W) bound as `image_shape`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightning as L
import torch
from torch import Tensor

from nvk.data.base import DataInfo
from nvk.kernels.gram import bind_image_shape, gram, kernel_key
from nvk.models.evaluation import EvalMixin
from nvk.models.guards import check_finite_predictions
from nvk.solvers.base import Solver

Kernel = Callable[..., Tensor]


class TiledKernel:
    """What solvers call: kernel values k(a (n, …), b (m, …)) → (n, m), float64 on `device`,
    computed as `gram(formula, a, b)` in tiles of edge `tile`.

    It implements `nvk.solvers.base.HasFormula`: solvers that evaluate the kernel themselves
    (GPyTorch wrappers, FALKON's own tiles) take `formula` through
    `nvk.solvers.base.kernel_formula`, never by unwrapping.

    Attributes:
        formula: the configured pure function (a `functools.partial` from conf/kernel/*.yaml,
            `image_shape` bound for image kernels); `nvk.kernels.kernel_entry(formula)` gives
            its registry entry when it is an nvk kernel.
        tile: Gram tile edge. device: where blocks are computed and the result lives.
    """

    def __init__(self, formula: Kernel, tile: int, device: torch.device) -> None:
        self.formula, self.tile, self.device = formula, tile, device

    def __call__(self, a: Tensor, b: Tensor) -> Tensor:  # (n, …), (m, …) -> (n, m)
        return gram(self.formula, a, b, tile=self.tile, device=self.device).to(self.device)


class KernelModule(EvalMixin, L.LightningModule):
    """A kernel model: `kernel` k(x1 (n, D), x2 (m, D)) → (n, m) fitted by `solver`.

    Args:
        info: the data's `DataInfo` (task, number of outputs).
        kernel: the kernel (Hydra builds it from conf/kernel/*.yaml as a functools.partial).
        solver: a `nvk.solvers.Solver` (conf/solver/*.yaml).
        tile: Gram tile edge (`nvk.kernels.gram`).
    """

    def __init__(self, info: DataInfo, kernel: Kernel, solver: Solver, *, tile: int = 2048):
        super().__init__()
        if tile < 1:
            raise ValueError(f"tile must be >= 1, got {tile}")
        if not isinstance(solver, Solver):
            raise TypeError(f"solver must be a nvk.solvers.Solver, got {type(solver).__name__}")
        kernel = bind_image_shape(kernel, info.in_shape)
        self.info, self.kernel, self.solver, self.tile = info, kernel, solver, int(tile)
        self.automatic_optimization = False
        # the fit counts as one optimizer step (global_step 1), so checkpoint callbacks save it
        self._step_marker = torch.nn.Parameter(torch.zeros(0), requires_grad=False)
        try:
            kernel_desc = kernel_key(kernel)
        except ValueError:
            kernel_desc = repr(kernel)
        self.kernel_desc = kernel_desc
        self.save_hyperparameters(
            {"kernel": kernel_desc, "solver": type(solver).__name__, "data": info.__dict__}
        )

    @property
    def kernel_fn(self) -> TiledKernel:
        """k(a (n, …), b (m, …)) → (n, m) float64, tiled on this module's device."""
        return TiledKernel(self.kernel, self.tile, self.device)

    # -- fitting ------------------------------------------------------------------------------
    @property
    def fitted(self) -> bool:
        return self.solver.fitted

    def fit_data(self, x: Tensor, y: Tensor, val: tuple[Tensor, Tensor] | None = None) -> None:
        """Fit the solver on x (N, …), y (N,) or (N, T); `val` for hyperparameter selection."""
        dev = self.device
        val = None if val is None else (val[0].to(dev), val[1].to(dev))
        self.solver.fit(self.kernel_fn, x.to(dev), y.to(dev), self.info, val=val)

    def training_step(self, batch: Any, _: int) -> None:
        if not self.fitted:
            dm = getattr(self.trainer, "datamodule", None)
            if dm is None or not hasattr(dm, "full_batch"):
                raise RuntimeError("KernelModule needs a datamodule with full_batch()")
            data = dm.full_batch()
            self.fit_data(data.x_train, data.y_train, val=(data.x_val, data.y_val))
            self.optimizers().step()  # no-op (lr 0, no gradients); advances global_step
        self.trainer.should_stop = True  # one pass is the whole fit

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD([self._step_marker], lr=0.0)

    # -- prediction ---------------------------------------------------------------------------
    def forward(self, x: Tensor) -> Tensor:
        """Scores (B, C) for classification or predictions (B, T) for regression, float64.

        NaN/inf predictions raise `nvk.models.guards.NonFinitePredictionError` (naming the
        solver, the kernel and what to try) rather than becoming NaN metrics."""
        if not self.fitted:
            raise RuntimeError("KernelModule is not fitted yet")
        out = self.solver.predict(self.kernel_fn, x.to(self.device))
        return check_finite_predictions(out, solver=self.solver, kernel=self.kernel_desc)

    def split_loss(self, out: Tensor, y: Tensor) -> float | None:
        return self.solver.loss(out, y, self.info)

    # -- checkpoints --------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["nvk_solver"] = {k: v.cpu() for k, v in self.solver.state_dict().items()}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get("nvk_solver")
        if state:
            self.solver.load_state_dict({k: v.to(self.device) for k, v in state.items()})

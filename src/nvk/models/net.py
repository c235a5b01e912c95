"""Lightning modules for networks: a generic `NetModule` and the `MLPModule` of `model=mlp`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn

from nvk.arch import ArchSpec
from nvk.data.base import DataInfo
from nvk.models.evaluation import EvalMixin
from nvk.models.metrics import TRAIN_LOSS
from nvk.nets.mlp import MLP

OptimizerFactory = Callable[..., torch.optim.Optimizer]


class NetModule(EvalMixin, L.LightningModule):
    """Trains any `nn.Module` with cross-entropy (classification) or MSE (regression).

    Validation/test metrics are computed on the whole split at epoch end with the same
    functions kernel models use (`nvk.models.metrics`), so the keys and values agree.
    """

    def __init__(
        self,
        net: nn.Module,
        info: DataInfo,
        optimizer: OptimizerFactory,
        scheduler: Callable[..., Any] | None = None,
    ) -> None:
        super().__init__()
        self.net, self.info = net, info
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.info.task == "classification":
            return F.cross_entropy(out, y)
        return F.mse_loss(out, y.reshape(out.shape).to(out.dtype))

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> torch.Tensor:
        x, y = batch
        loss = self.loss(self(x), y)
        self.log(TRAIN_LOSS, loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=len(x))
        return loss

    def configure_optimizers(self) -> Any:
        opt = self.optimizer_factory(params=self.parameters())
        if self.scheduler_factory is None:
            return opt
        return {"optimizer": opt, "lr_scheduler": {"scheduler": self.scheduler_factory(opt)}}


class MLPModule(NetModule):
    """`model=mlp`: the wide ReLU MLP of `nvk.arch` (NTK parameterization by default).

    Architecture fields are top-level config keys (`model.width=1024 model.depth=4`).
    """

    def __init__(
        self,
        info: DataInfo,
        optimizer: OptimizerFactory,
        scheduler: Callable[..., Any] | None = None,
        *,
        depth: int = 3,
        width: int = 512,
        bias: float = 0.0,
        bias_init: str = "zero",
        sigma_w: float = 2.0**0.5,
        parameterization: str = "ntk",
    ) -> None:
        arch = ArchSpec(
            depth=depth,
            width=width,
            bias=bias,
            bias_init=bias_init,  # type: ignore[arg-type]
            sigma_w=sigma_w,
            parameterization=parameterization,  # type: ignore[arg-type]
        )
        super().__init__(MLP(arch, info.in_features, info.num_outputs), info, optimizer, scheduler)
        self.arch = arch
        self.save_hyperparameters({"arch": arch.to_dict(), "data": info.__dict__})

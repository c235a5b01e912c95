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
from nvk.layers import Activation, Layer, ReLU, as_activation, build_net, mlp
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

    def save_preset_hparams(self, arch: dict[str, Any], activation: str) -> None:
        """Hyperparameters of a preset network: its spec, the data, and the activation when it
        is not ReLU (ReLU runs keep the hyperparameters they had before activations existed)."""
        self.activation = str(activation)
        hp: dict[str, Any] = {"arch": arch, "data": self.info.__dict__}
        if self.activation.lower() != "relu":
            hp["activation"] = self.activation
        self.save_hyperparameters(hp)

    def configure_optimizers(self) -> Any:
        opt = self.optimizer_factory(params=self.parameters())
        if self.scheduler_factory is None:
            return opt
        return {"optimizer": opt, "lr_scheduler": {"scheduler": self.scheduler_factory(opt)}}


def preset_net(
    layer: Layer, in_shape: tuple[int, ...], act: Activation, fused: Callable[[], nn.Module]
) -> nn.Module:
    """The network of a preset layer list: with ReLU the hand-written `fused()` (`nets.MLP` /
    `nets.CNN`, equal bit for bit to the list's network, and to earlier runs' checkpoints),
    else the list's `build_net`."""
    return fused() if type(act) is ReLU else build_net(layer, in_shape)


class MLPModule(NetModule):
    """`model=mlp`: the wide MLP of `nvk.arch` (NTK parameterization by default).

    Its keys come from the shared `arch` config (`conf/arch/mlp.yaml`: `arch.depth=4
    arch.width=1024 arch.activation=erf`), which the kernel twins `model=ntk|nngp` read too;
    `model.<key>=` still overrides the network alone. `self.layer` is the network's layer list
    (`nvk.layers.mlp`), whose analytic kernels are its exact twins. With ReLU the network is
    `nvk.nets.MLP` (equal bit for bit to the list's `build_net`, and to the checkpoints of
    earlier runs); another activation (`nvk.layers.ACTIVATIONS`) builds it from the list.
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
        activation: str = "relu",
    ) -> None:
        arch = ArchSpec(
            depth=depth,
            width=width,
            bias=bias,
            bias_init=bias_init,  # type: ignore[arg-type]
            sigma_w=sigma_w,
            parameterization=parameterization,  # type: ignore[arg-type]
        )
        act = as_activation(activation)
        kw = dict(bias_init=bias_init, parameterization=parameterization, activation=act)
        layer = mlp(depth, width, info.num_outputs, W_std=sigma_w, b_std=bias, **kw)
        net = preset_net(layer, (info.in_features,), act,
                         lambda: MLP(arch, info.in_features, info.num_outputs))  # fmt: skip
        super().__init__(net, info, optimizer, scheduler)
        self.arch, self.layer = arch, layer
        self.save_preset_hparams(arch.to_dict(), activation)

"""`model=cnn`: the 3×3 convolutional network of `nvk.arch.ConvSpec` as a Lightning module, read
from the shared `arch=cnn` (conf/arch/cnn.yaml); with ReLU the finite twin of `model=cntk` and of
`model=ntk arch=cnn` (same depth, σ_w and readout)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nvk.arch import ConvSpec
from nvk.data.base import DataInfo
from nvk.layers import as_activation, cnn
from nvk.models.net import NetModule, OptimizerFactory, preset_net
from nvk.nets.cnn import CNN


class CNNModule(NetModule):
    """Trains the CNN (NTK parameterization by default) on image data (C, H, W).

    Its keys come from `arch=cnn` (`arch.depth=5 arch.channels=256 arch.activation=erf`);
    `model.<key>=` still overrides the network alone. `self.layer` is its layer list
    (`nvk.layers.cnn`). With ReLU the network is `nvk.nets.CNN` (equal bit for bit to the
    list's `build_net`); another activation builds it from the list.
    """

    def __init__(
        self,
        info: DataInfo,
        optimizer: OptimizerFactory,
        scheduler: Callable[..., Any] | None = None,
        *,
        depth: int = 3,
        channels: int = 128,
        sigma_w: float = 2.0**0.5,
        readout: str = "flatten",
        parameterization: str = "ntk",
        activation: str = "relu",
    ) -> None:
        spec = ConvSpec(
            depth=depth,
            channels=channels,
            sigma_w=sigma_w,
            readout=readout,
            parameterization=parameterization,  # type: ignore[arg-type]
        )
        act = as_activation(activation)
        layer = cnn(depth, channels, readout, info.num_outputs, W_std=sigma_w,
                    parameterization=parameterization, activation=act)  # fmt: skip
        net = preset_net(layer, info.in_shape, act,
                         lambda: CNN(spec, info.in_shape, info.num_outputs))  # fmt: skip
        super().__init__(net, info, optimizer, scheduler)
        self.spec, self.layer = spec, layer
        self.save_preset_hparams(spec.to_dict(), activation)

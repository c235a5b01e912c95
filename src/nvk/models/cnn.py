"""`model=cnn`: the 3×3 convolutional ReLU network of `nvk.arch.ConvSpec` as a Lightning module,
the finite twin of `model=cntk` (same depth, σ_w and readout)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nvk.arch import ConvSpec
from nvk.data.base import DataInfo
from nvk.models.net import NetModule, OptimizerFactory
from nvk.nets.cnn import CNN


class CNNModule(NetModule):
    """Trains `nvk.nets.CNN` (NTK parameterization by default) on image data (C, H, W).

    Architecture fields are top-level config keys (`model.depth=5 model.channels=256`).
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
    ) -> None:
        spec = ConvSpec(
            depth=depth,
            channels=channels,
            sigma_w=sigma_w,
            readout=readout,
            parameterization=parameterization,  # type: ignore[arg-type]
        )
        super().__init__(CNN(spec, info.in_shape, info.num_outputs), info, optimizer, scheduler)
        self.spec = spec
        self.save_hyperparameters({"arch": spec.to_dict(), "data": info.__dict__})

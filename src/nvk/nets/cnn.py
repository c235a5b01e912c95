"""3×3 convolutional ReLU network in NTK parameterization (formula: `nvk.arch.ConvSpec`).

The finite twin of `nvk.kernels.cntk`: as the channel count n → ∞ its empirical NTK converges
to the CNTK with the same depth, σ_w and readout (tests/nets/test_cnn.py checks this by Monte
Carlo).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from nvk.arch import ConvSpec
from nvk.nets.mlp import NTKLinear


class NTKConv2d(nn.Module):
    """y = σ (W ∗ x) / √(9·C_in), 3×3 kernel, stride 1, zero padding 1, no bias; W ~ N(0, 1).

    With ``parameterization="standard"`` W ~ N(0, σ²/(9·C_in)) is applied as y = W ∗ x.
    """

    def __init__(
        self, in_channels: int, out_channels: int, *, sigma: float, parameterization: str = "ntk"
    ) -> None:
        super().__init__()
        fan_in = 9 * in_channels
        self.ntk = parameterization == "ntk"
        self.weight_scale = sigma / math.sqrt(fan_in) if self.ntk else 1.0
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 3, 3))
        if not self.ntk:
            with torch.no_grad():
                self.weight.mul_(sigma / math.sqrt(fan_in))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C_in, H, W) -> (B, C_out, H, W)
        return self.weight_scale * F.conv2d(x, self.weight, padding=1)


class CNN(nn.Module):
    """f: (B, C, H, W) → (B, out_features): `depth` NTKConv2d + ReLU layers, linear readout.

    Args:
        spec: depth D, channels n, σ_w, readout ("flatten" or "gap"), parameterization.
        in_shape: (C, H, W) of one input image.
        out_features: outputs (classes, or 1 for scalar regression).
    """

    def __init__(self, spec: ConvSpec, in_shape: tuple[int, ...], out_features: int) -> None:
        super().__init__()
        if len(in_shape) != 3 or min(in_shape) < 1:
            raise ValueError(
                f"CNN needs images: in_shape must be (C, H, W) with positive sizes, got "
                f"{tuple(in_shape)}; with data=digits pass data.flatten=false"
            )
        if out_features < 1:
            raise ValueError(f"CNN needs out_features >= 1, got {out_features}")
        self.spec, self.in_shape = spec, tuple(in_shape)
        c, h, w = in_shape
        par = spec.parameterization
        self.convs = nn.ModuleList(
            NTKConv2d(c if i == 0 else spec.channels, spec.channels, sigma=spec.sigma_w,
                      parameterization=par)
            for i in range(spec.depth)
        )  # fmt: skip
        feats = spec.channels * (h * w if spec.readout == "flatten" else 1)
        self.readout = NTKLinear(
            feats, out_features, sigma=1.0, bias=0.0, bias_init="zero", parameterization=par
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) or (B, C·H·W) -> (B, O)
        h = x.reshape(len(x), *self.in_shape)
        for conv in self.convs:
            h = torch.relu(conv(h))  # (B, n, H, W)
        h = h.flatten(1) if self.spec.readout == "flatten" else h.mean(dim=(2, 3))
        return self.readout(h)

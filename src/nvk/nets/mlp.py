"""Wide fully connected ReLU network in NTK parameterization (see `nvk.arch` for the formula)."""

from __future__ import annotations

import math

import torch
from torch import nn

from nvk.arch import ArchSpec


class NTKLinear(nn.Module):
    """y = σ W x / √fan_in + β b, with W ~ N(0, 1) and b zero or N(0, 1) at init.

    With ``parameterization="standard"`` the same function at init is stored as
    W ~ N(0, σ²/fan_in), b ~ β·N(0,1) and applied as y = W x + b (only training dynamics differ).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        sigma: float,
        bias: float,
        bias_init: str,
        parameterization: str = "ntk",
    ) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.ntk = parameterization == "ntk"
        self.weight_scale = sigma / math.sqrt(in_features) if self.ntk else 1.0
        self.bias_scale = bias if self.ntk else 1.0
        self.weight = nn.Parameter(torch.randn(out_features, in_features))  # (out, in)
        if not self.ntk:
            with torch.no_grad():
                self.weight.mul_(sigma / math.sqrt(in_features))
        self.bias: nn.Parameter | None = None
        if bias > 0:
            b = torch.randn(out_features) if bias_init == "gaussian" else torch.zeros(out_features)
            self.bias = nn.Parameter(b if self.ntk else bias * b)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, in) -> (B, out)
        y = self.weight_scale * (x @ self.weight.T)
        if self.bias is not None:
            y = y + self.bias_scale * self.bias
        return y

    def extra_repr(self) -> str:
        return f"in={self.in_features}, out={self.out_features}, ntk={self.ntk}"


class MLP(nn.Module):
    """Fully connected ReLU network f: (B, *in_shape) -> (B, out_features).

    Inputs of any shape are flattened, so images from `data=digits`/`cifar10` work as is.

    Args:
        arch: the architecture spec (depth L, width, bias β, bias init, σ_w).
        in_features: input dimension d (product of the input shape).
        out_features: output dimension (classes, or 1 for scalar regression).
    """

    def __init__(self, arch: ArchSpec, in_features: int, out_features: int) -> None:
        super().__init__()
        if in_features < 1 or out_features < 1:
            raise ValueError(
                f"MLP needs in_features >= 1 and out_features >= 1, got {in_features}, "
                f"{out_features}"
            )
        self.arch = arch
        dims = [in_features] + [arch.width] * (arch.depth - 1) + [out_features]
        kw = dict(bias=arch.bias, bias_init=arch.bias_init, parameterization=arch.parameterization)
        self.layers = nn.ModuleList(
            NTKLinear(
                dims[i],
                dims[i + 1],
                sigma=arch.sigma_w if i < arch.depth - 1 else 1.0,  # readout scale 1
                **kw,
            )
            for i in range(arch.depth)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, ...) -> (B, out)
        h = x.flatten(1)
        for layer in self.layers[:-1]:
            h = torch.relu(layer(h))
        return self.layers[-1](h)

"""The architecture spec shared by networks (`nvk.nets`) and their kernels (`nvk.kernels`).

One frozen dataclass describes a fully connected ReLU network in NTK parameterization, so a
finite network and its infinite-width kernel are built from the same values and cannot drift
apart. The exact forward pass it describes (Jacot et al. 2018; Arora et al. 2019), with
σ_w = `sigma_w`, β = `bias`, n = `width`, d = input dimension, φ = ReLU, L = `depth`:

    g¹ = σ_w W¹ x / √d + β b¹
    gʰ = σ_w Wʰ φ(gʰ⁻¹) / √n + β bʰ          h = 2..L−1
    f  = w φ(g^{L−1}) / √n + β b^L           (readout: weight scale 1, not σ_w)

W, w ~ N(0, 1); b ~ N(0, 1) for `bias_init="gaussian"`, b = 0 at init for `bias_init="zero"`
(the bias is still trained, so it enters the NTK but not the NNGP: the paper's FC_β).
L = 1 is a linear model f = w x / √d + β b.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

BiasInit = Literal["zero", "gaussian"]
Parameterization = Literal["ntk", "standard"]

_BIAS_INITS = ("zero", "gaussian")
_PARAMETERIZATIONS = ("ntk", "standard")


@dataclass(frozen=True)
class ArchSpec:
    """A fully connected ReLU network: L = `depth` weight layers of `width` hidden units.

    Args:
        depth: number of weight layers L ≥ 1 (L − 1 hidden layers; L = 1 is linear).
        width: hidden width n ≥ 1 (ignored for L = 1).
        bias: bias scale β ≥ 0 (0 disables biases).
        bias_init: ``"zero"`` (b = 0 at init, trained) or ``"gaussian"`` (b ~ N(0, 1)).
        sigma_w: weight scale σ_w > 0 of the hidden layers (√2 keeps ReLU variances at 1).
        parameterization: ``"ntk"`` (scale in the forward pass, W ~ N(0, 1)) or
            ``"standard"`` (same function at init, scale folded into W ~ N(0, σ_w²/fan_in)).
    """

    depth: int = 3
    width: int = 512
    bias: float = 0.0
    bias_init: BiasInit = "zero"
    sigma_w: float = math.sqrt(2.0)
    parameterization: Parameterization = "ntk"

    def __post_init__(self) -> None:
        if not isinstance(self.depth, int) or isinstance(self.depth, bool) or self.depth < 1:
            raise ValueError(f"ArchSpec.depth must be an integer >= 1, got {self.depth!r}")
        if not isinstance(self.width, int) or isinstance(self.width, bool) or self.width < 1:
            raise ValueError(f"ArchSpec.width must be an integer >= 1, got {self.width!r}")
        if not math.isfinite(self.bias) or self.bias < 0:
            raise ValueError(f"ArchSpec.bias must be a finite number >= 0, got {self.bias!r}")
        if self.bias_init not in _BIAS_INITS:
            raise ValueError(
                f"ArchSpec.bias_init must be one of {_BIAS_INITS}, got {self.bias_init!r}"
            )
        if not math.isfinite(self.sigma_w) or self.sigma_w <= 0:
            raise ValueError(f"ArchSpec.sigma_w must be a finite number > 0, got {self.sigma_w!r}")
        if self.parameterization not in _PARAMETERIZATIONS:
            raise ValueError(
                f"ArchSpec.parameterization must be one of {_PARAMETERIZATIONS}, "
                f"got {self.parameterization!r}"
            )

    @property
    def hidden_layers(self) -> int:
        """Number of hidden ReLU layers, L − 1."""
        return self.depth - 1

    @property
    def gaussian_bias(self) -> float:
        """β_g: the bias scale seen by the NNGP at init (β for Gaussian init, else 0)."""
        return self.bias if self.bias_init == "gaussian" else 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_CONV_READOUTS = ("flatten", "gap")


@dataclass(frozen=True)
class ConvSpec:
    """A 3×3 convolutional ReLU network (the CNTK's finite twin, `nvk.nets.cnn`).

    D = `depth` convolutions (stride 1, zero padding 1, no biases, as in Arora et al. 2019)
    of n = `channels` channels, then a linear readout, in NTK parameterization (C = input
    channels, P = H·W positions, δ over the 3×3 offsets):

        g¹(p) = σ_w Σ_δ W¹_δ x(p + δ) / √(9C)
        gʰ(p) = σ_w Σ_δ Wʰ_δ φ(gʰ⁻¹)(p + δ) / √(9n)           h = 2..D
        f     = w · flatten(φ(g^D)) / √(nP)                   (readout="flatten")
        f     = w · mean_p φ(g^D)(p) / √n                     (readout="gap")

    Its kernel is `nvk.kernels.cntk` with readout "trace" (flatten) or "gap".
    """

    depth: int = 3
    channels: int = 128
    sigma_w: float = math.sqrt(2.0)
    readout: str = "flatten"
    parameterization: Parameterization = "ntk"

    def __post_init__(self) -> None:
        if not isinstance(self.depth, int) or isinstance(self.depth, bool) or self.depth < 1:
            raise ValueError(f"ConvSpec.depth must be an integer >= 1, got {self.depth!r}")
        if (
            not isinstance(self.channels, int)
            or isinstance(self.channels, bool)
            or self.channels < 1
        ):
            raise ValueError(f"ConvSpec.channels must be an integer >= 1, got {self.channels!r}")
        if not math.isfinite(self.sigma_w) or self.sigma_w <= 0:
            raise ValueError(f"ConvSpec.sigma_w must be a finite number > 0, got {self.sigma_w!r}")
        if self.readout not in _CONV_READOUTS:
            raise ValueError(
                f"ConvSpec.readout must be one of {_CONV_READOUTS}, got {self.readout!r}"
            )
        if self.parameterization not in _PARAMETERIZATIONS:
            raise ValueError(
                f"ConvSpec.parameterization must be one of {_PARAMETERIZATIONS}, "
                f"got {self.parameterization!r}"
            )

    @property
    def kernel_readout(self) -> str:
        """The kernel's readout: "trace" for a flatten readout, "gap" for average pooling."""
        return "trace" if self.readout == "flatten" else "gap"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

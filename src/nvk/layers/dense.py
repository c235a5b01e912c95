"""Dense (fully connected) and Identity layers.

Dense, finite face (`nvk.nets.mlp.NTKLinear`, exactly): with σ_w = `W_std`, β = `b_std` and
n = fan-in, NTK parameterization y = σ_w W x/√n + β b (W ~ N(0, 1), b ~ N(0, 1) or 0 at init);
standard parameterization: the same function at init stored as W ~ N(0, σ_w²/n), b = β·b₀ and
applied as y = W x + b.

Dense, infinite face (Neal 1996; Lee et al. 2018; Jacot et al. 2018; Novak et al. 2019), with
β_g = β for a Gaussian bias init and 0 for a zero init (the bias is trained either way, so it
enters the NTK but not the NNGP: Geifman et al. 2020's FC_β, `nvk.kernels.fc`):

    Σ' = σ_w² Σ + β_g²
    Θ' = σ_w² (Σ + Θ) + β²                        (parameterization="ntk")
    Θ' = n Σ + 1[β > 0] + σ_w² Θ                   (parameterization="standard")

Σ, Θ are the input's per-feature moments (x·z/n for raw inputs). In the standard
parameterization the gradient of y with respect to W is the raw input (not x/√n), so the
layer's own term is n Σ and the tangent kernel grows with the widths (it is the limit of the
empirical NTK of a network of these widths up to O(1/√n) fluctuations; the widths in the list
enter it, as in neural-tangents).
"""

from __future__ import annotations

import math

from torch import nn

from nvk.layers.base import (
    BIAS_INITS,
    PARAMETERIZATIONS,
    Layer,
    Shapes,
    State,
    check_choice,
    check_float,
    check_int,
    require_layout,
    shift_,
    single_shape,
    single_state,
)
from nvk.nets.mlp import NTKLinear

SQRT2 = math.sqrt(2.0)


class Dense(Layer):
    """Fully connected layer (D,) → (out,); formulas in the module docstring.

    Args:
        out: output features (the width of a hidden layer) ≥ 1.
        W_std: weight scale σ_w > 0 (√2 keeps ReLU variances; 1 for a readout).
        b_std: bias scale β ≥ 0 (0: no bias parameter).
        bias_init: "zero" (b = 0 at init, trained) or "gaussian" (b ~ N(0, 1)).
        parameterization: "ntk" or "standard" (same function at init, different NTK).
    """

    def __init__(
        self,
        out: int,
        W_std: float = SQRT2,
        b_std: float = 0.0,
        bias_init: str = "zero",
        parameterization: str = "ntk",
    ) -> None:
        self.out = check_int(out, "out", "Dense")
        self.W_std = check_float(W_std, "W_std", "Dense", positive=True)
        self.b_std = check_float(b_std, "b_std", "Dense", positive=False)
        self.bias_init = check_choice(bias_init, "bias_init", "Dense", BIAS_INITS)
        self.parameterization = check_choice(
            parameterization, "parameterization", "Dense", PARAMETERIZATIONS
        )

    def out_shape(self, in_shape: Shapes) -> Shapes:
        shape = single_shape(in_shape, self)
        if len(shape) != 1:
            raise ValueError(
                f"Dense needs vector features (D,), got shape {shape}; add Flatten() or "
                "GlobalAvgPool() before it"
            )
        return (self.out,)

    def build(self, in_shape: Shapes):
        """`NTKLinear(D, out)` with this layer's scales: (B, D) → (B, out)."""
        out_shape = self.out_shape(in_shape)
        module = NTKLinear(
            single_shape(in_shape, self)[0],
            self.out,
            sigma=self.W_std,
            bias=self.b_std,
            bias_init=self.bias_init,
            parameterization=self.parameterization,
        )
        return module, out_shape

    def kernel(self, state: State) -> State:
        """Σ' = σ_w²Σ + β_g², Θ' as in the module docstring; (N, M) → (N, M)."""
        s = single_state(state, self)
        require_layout(s, self, ("vector",), "add Flatten() or GlobalAvgPool() before Dense")
        self.out_shape(s.shape)
        w2, b2 = self.W_std**2, self.b_std**2
        bg2 = b2 if self.bias_init == "gaussian" else 0.0
        ntk = None
        if s.ntk is not None:
            if self.parameterization == "ntk":
                ntk = shift_((s.nngp + s.ntk).mul_(w2), b2)
            else:
                ntk = s.shape[0] * s.nngp + (1.0 if self.b_std > 0 else 0.0) + w2 * s.ntk
        cov1 = shift_(w2 * s.cov1, bg2)
        return s.replace(
            nngp=shift_(w2 * s.nngp, bg2),
            ntk=ntk,
            cov1=cov1,
            cov2=cov1 if s.same else shift_(w2 * s.cov2, bg2),
            shape=(self.out,),
            fresh=True,
            gaussian=True,
        )


class Identity(Layer):
    """x ↦ x; the kernel state passes unchanged (the skip branch of a residual block)."""

    def out_shape(self, in_shape: Shapes) -> Shapes:
        return in_shape

    def build(self, in_shape: Shapes):
        """`nn.Identity()`."""
        return nn.Identity(), in_shape

    def kernel(self, state: State) -> State:
        """Unchanged."""
        return state

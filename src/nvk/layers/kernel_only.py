"""Kernel-only layers: maps of the kernel state that no finite network realizes.

`ExpMap` is C-Exp's homogeneous exponential map (Geifman et al. 2020, Table 3;
`nvk.kernels.cexp`): with ρ = S_{pp'}/√(S_pp S_p'p'),

    K_{pp'} = √(S_pp S_p'p') · exp(−c (2 − 2ρ)^{γ/2}),        c > 0, γ ∈ (0, 2]

i.e. √(aa') k(â, â') with the Laplace (γ = 1), Gaussian (γ = 2) or γ-exponential kernel of the
unit vectors, positive definite on the sphere of any Hilbert space (Schoenberg), so each map
keeps Gram matrices PSD. It is not E[φ(u)φ(v)] of any activation φ of a Gaussian channel that
a layer-by-layer network would need, and its derivative ∂K/∂S contains (2 − 2ρ)^{γ/2 − 1},
unbounded at ρ = 1 for γ < 2, so there is no tangent kernel: the state becomes NNGP-only
(Θ = None), and `build` raises `NoFiniteTwinError`.
"""

from __future__ import annotations

from torch import Tensor

from nvk.kernels._checks import check_gamma
from nvk.layers.base import Layer, NoFiniteTwinError, Shapes, State, check_float, single_state
from nvk.layers.state import correlation


def exp_map(s12: Tensor, s1: Tensor, s2: Tensor, c: float, gamma: float) -> Tensor:
    """√(s1 s2) exp(−c (2 − 2ρ)^{γ/2}) for covariances s12 and variances s1, s2 (broadcastable),
    ρ = s12/√(s1 s2) (0 where a variance is 0, where the result is 0 too)."""
    d = (2.0 - 2.0 * correlation(s12, s1, s2)).clamp_min(0)  # ‖â − â'‖² = 2 − 2ρ
    if gamma != 2.0:
        d = d.sqrt() if gamma == 1.0 else d.pow(gamma / 2)
    return (-c * d).exp() * (s1.sqrt() * s2.sqrt())


class ExpMap(Layer):
    """C-Exp's homogeneous exponential map, kernel-only (module docstring).

    Args:
        c: scale c > 0.
        gamma: γ ∈ (0, 2] (1 Laplace, 2 Gaussian, else γ-exponential).
    """

    def __init__(self, c: float = 1.0, gamma: float = 1.0) -> None:
        self.c = check_float(c, "c", "ExpMap", positive=True)
        self.gamma = float(check_gamma(gamma, name="ExpMap"))

    def out_shape(self, in_shape: Shapes) -> Shapes:
        return in_shape

    def build(self, in_shape: Shapes):
        """Always raises `NoFiniteTwinError`: the map is kernel-only."""
        raise NoFiniteTwinError(
            f"{self!r} has no finite twin: it is a kernel-only map (C-Exp, Geifman et al. 2020) "
            "with no network whose NNGP or NTK it is; use the list's kernel function only"
        )

    def kernel(self, state: State) -> State:
        """K = exp_map(S) on the cross pairs and the self covariances; Θ dropped (None)."""
        s = single_state(state, self)
        k = exp_map(s.nngp, *s.cross_vars(), self.c, self.gamma)
        cov1 = exp_map(s.cov1, *s.self_vars(s.cov1), self.c, self.gamma)
        cov2 = cov1 if s.same else exp_map(s.cov2, *s.self_vars(s.cov2), self.c, self.gamma)
        return s.replace(nngp=k, ntk=None, cov1=cov1, cov2=cov2, fresh=False, gaussian=False)

    def has_ntk(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"ExpMap(c={self.c!r}, gamma={self.gamma!r})"

"""Zonal profiles κ(u), u = xᵀz on the unit sphere S^{d−1}: k(x, z) = κ(xᵀz) for ‖x‖ = ‖z‖ = 1.

Every kernel in `nvk.kernels` is zonal on the sphere (Geifman et al. 2020, §3):

    exponential family:  κ(u) = exp(−c (2 − 2u)^{γ/2})  (= the H-forms' profile too)
    FC NNGP / NTK:       the recursion of `nvk.kernels.fc` with ‖x‖²/d = ‖z‖²/d = 1/d and
                         x·z/d = u/d (the 1/√d input scaling makes the profile depend on d).

Shapes: u (…) → κ(u) (…); u is clamped to [−1, 1].
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from nvk.kernels._checks import check_depth, check_gamma, check_positive, pow_half
from nvk.kernels.fc import SQRT2, _validate, fc_recursion


def gamma_exponential_profile(u: Tensor, *, c: float = 1.0, gamma: float | Tensor = 1.0) -> Tensor:
    """κ(u) = exp(−c (2 − 2u)^{γ/2}) of `gamma_exp` and `h_gamma_exp` (`gamma_exponential`,
    `h_gamma_exponential`)."""
    c = check_positive(c, name="gamma_exponential_profile", what="c")
    check_gamma(gamma, name="gamma_exponential_profile")
    return torch.exp(-c * pow_half(2 - 2 * u.clamp(-1.0, 1.0), gamma))


def laplace_profile(u: Tensor, *, c: float = 1.0) -> Tensor:
    """κ(u) = exp(−c √(2 − 2u)) of `laplace` and `h_laplace`."""
    return gamma_exponential_profile(u, c=c, gamma=1.0)


def gaussian_profile(u: Tensor, *, c: float = 1.0) -> Tensor:
    """κ(u) = exp(−c (2 − 2u)) of `gaussian` and `h_gaussian`."""
    return gamma_exponential_profile(u, c=c, gamma=2.0)


def _fc_profile(kind: str, u: Tensor, d: int, depth: int, bias, bias_init, sigma_w, frozen):
    name = f"fc_{kind}_profile"
    if not isinstance(d, int) or d < 1:
        raise ValueError(f"{name}: d must be an integer >= 1, got {d!r}")
    check_depth(depth, frozen, name=name)
    bg = _validate(name, depth, frozen, bias, bias_init, sigma_w)
    u = u.clamp(-1.0, 1.0)
    one = torch.full_like(u, 1.0 / d)
    nngp, ntks = fc_recursion(
        one,
        one,
        u / d,
        depths=[depth],
        frozen=[frozen],
        sigma_w=sigma_w,
        bias=bias,
        bias_g=bg,
        ntk=kind == "ntk",
    )
    return ntks[(depth, frozen)] if kind == "ntk" else nngp[depth]


def fc_ntk_profile(
    u: Tensor,
    *,
    d: int,
    depth: int,
    bias: float = 0.0,
    bias_init: str = "zero",
    sigma_w: float = SQRT2,
    frozen_layers: int = 0,
) -> Tensor:
    """κ(u) of `fc_ntk` on S^{d−1}."""
    return _fc_profile("ntk", u, d, depth, bias, bias_init, sigma_w, frozen_layers)


def fc_nngp_profile(
    u: Tensor,
    *,
    d: int,
    depth: int,
    bias: float = 0.0,
    bias_init: str = "zero",
    sigma_w: float = SQRT2,
    frozen_layers: int = 0,
) -> Tensor:
    """κ(u) of `fc_nngp` on S^{d−1}."""
    return _fc_profile("nngp", u, d, depth, bias, bias_init, sigma_w, frozen_layers)


PROFILES: dict[str, Callable[..., Tensor]] = {
    "fc_ntk": fc_ntk_profile,
    "fc_nngp": fc_nngp_profile,
    "laplace": laplace_profile,
    "gaussian": gaussian_profile,
    "gamma_exp": gamma_exponential_profile,
    "h_laplace": laplace_profile,
    "h_gaussian": gaussian_profile,
    "h_gamma_exp": gamma_exponential_profile,
}
"""κ of each kernel by its registry name (`nvk.kernels.registry`: the names configs and records
use; `profile_name` also takes the aliases, e.g. the function name `gamma_exponential`)."""


def profile_name(kernel: str) -> str:
    """The `PROFILES` key of the kernel named `kernel` or one of its aliases; ValueError listing
    the known names for a kernel without a zonal profile."""
    if kernel in PROFILES:
        return kernel
    from nvk.kernels.registry import UnknownKernelError, kernel_entry  # (it imports this module)

    try:
        name = kernel_entry(kernel).name
    except UnknownKernelError:
        name = kernel
    if name not in PROFILES:
        raise ValueError(f"no zonal profile for kernel {kernel!r}; known: {sorted(PROFILES)}")
    return name


def zonal_profile(kernel: str, u: Tensor, **params) -> Tensor:
    """κ(u) of the kernel named `kernel` (a key of `PROFILES`, or an alias)."""
    return PROFILES[profile_name(kernel)](u, **params)

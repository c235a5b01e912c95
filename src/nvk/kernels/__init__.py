"""Kernels: pure functions k(x1 (…, N, D), x2 (…, M, D), *, params) → (…, N, M).

| function              | kernel                                                    |
|-----------------------|-----------------------------------------------------------|
| `fc_nngp`, `fc_ntk`   | infinite-width NNGP / NTK of the Core MLP (`nvk.arch`)     |
| `fc_kernel_grid`      | all (depth, frozen_layers) variants in one pass           |
| `laplace`, `gaussian`, `gamma_exponential` | exp(−c‖x − z‖^γ), γ = 1, 2, (0, 2]   |
| `h_laplace`, `h_gaussian`, `h_gamma_exponential` | ‖x‖‖z‖ k(x/‖x‖, z/‖z‖)      |
| `zonal_profile`       | κ(u) on the unit sphere for each of the above             |
| `empirical_ntk`, `empirical_nngp`, `monte_carlo_kernel` | finite networks          |
| `gram`                | tiled, float64, optionally disk-cached and resumable Gram  |
| `gram_part`, `assemble_gram` | Gram blocks as independent jobs → one memory-mapped .npy |
| `cntk`, `cexp`        | convolutional NTK and C-Exp on images (…, N, C, H, W)     |
| `kernel_entry`, `KERNELS` | one `KernelEntry` per kernel: pure function, input kind, KeOps |
|                       | twin, GPyTorch class, zonal profile, Gram hints (`registry`) |
"""

from nvk.kernels.conv import cexp, cntk, cntk_from_arch
from nvk.kernels.empirical import empirical_nngp, empirical_ntk, monte_carlo_kernel
from nvk.kernels.exponential import (
    gamma_exponential,
    gaussian,
    h_gamma_exponential,
    h_gaussian,
    h_laplace,
    laplace,
)
from nvk.kernels.fc import fc_kernel_grid, fc_nngp, fc_nngp_from_arch, fc_ntk, fc_ntk_from_arch
from nvk.kernels.gram import assemble_gram, bind_image_shape, gram, gram_part, kernel_key
from nvk.kernels.registry import (
    KERNELS,
    GramHints,
    KernelEntry,
    UnknownKernelError,
    config_partial,
    find_entry,
    kernel_config,
    kernel_entry,
    register_kernel,
)
from nvk.kernels.zonal import PROFILES, zonal_profile

__all__ = [
    "KERNELS",
    "PROFILES",
    "GramHints",
    "KernelEntry",
    "UnknownKernelError",
    "assemble_gram",
    "bind_image_shape",
    "cexp",
    "cntk",
    "cntk_from_arch",
    "config_partial",
    "empirical_nngp",
    "empirical_ntk",
    "fc_kernel_grid",
    "fc_nngp",
    "fc_nngp_from_arch",
    "fc_ntk",
    "fc_ntk_from_arch",
    "find_entry",
    "gamma_exponential",
    "gaussian",
    "gram",
    "gram_part",
    "h_gamma_exponential",
    "h_gaussian",
    "h_laplace",
    "kernel_config",
    "kernel_entry",
    "kernel_key",
    "laplace",
    "monte_carlo_kernel",
    "register_kernel",
    "zonal_profile",
]

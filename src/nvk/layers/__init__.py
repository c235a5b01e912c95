"""Layers with two faces: a finite `nn.Module` and its infinite-width kernel transition.

In the spirit of neural-tangents' ``stax`` (Novak et al. 2019), one list describes a network
and its NNGP / NTK, so the two cannot drift apart:

    from nvk.layers import Dense, ReLU, serial, twins
    net, k = twins(serial(Dense(512), ReLU(), Dense(1, W_std=1.0)), in_shape=(10,))
    net(x)                              # (B, 10) → (B, 1), NTK parameterization
    k(x1, x2, get="ntk")                # (N, M) float64; get="nngp" for the NNGP

| layer                                    | kernel transition                             |
|------------------------------------------|-----------------------------------------------|
| `Dense`, `Conv` (k×k, stride, padding)   | σ_w² Σ (patch sums 𝒫 for Conv), Θ + Σ          |
| `ReLU`, `LeakyReLU`, `Abs`, `Erf`, `Sign`, `Step` | closed-form E[φφ], E[φ'φ']            |
| `Identity`, `Flatten` (trace readout), `AvgPool`, `GlobalAvgPool` | linear maps of positions |
| `FanOut`, `parallel`, `FanInSum`, `serial` | copies, per-branch maps, sums, composition  |
| `ExpMap` (C-Exp, kernel-only)            | √(S S') exp(−c(2 − 2ρ)^{γ/2}); no NTK, no net  |

Ready-made lists: `mlp`, `cnn`, `cexp`, `myrtle` / `myrtle5`, `residual_block`,
`resnet_small` (activations by name: `ACTIVATIONS`, `as_activation`; the command line's
`conf/arch/`). The kernel state and its layouts: `nvk.layers.state`. What kernel models call:
`analytic_kernel` (the fused `nvk.kernels` function where one computes the list, else the
composed `LayerKernel`).
"""

from nvk.layers.activations import (
    ACTIVATIONS,
    Abs,
    Activation,
    Erf,
    LeakyReLU,
    ReLU,
    Sign,
    Step,
    as_activation,
)
from nvk.layers.analytic import LayerKernel, analytic_kernel, fused_kernel
from nvk.layers.base import Layer, NoFiniteTwinError
from nvk.layers.combinators import FanInSum, FanOut, Parallel, Serial, parallel, serial
from nvk.layers.dense import Dense, Identity
from nvk.layers.kernel_only import ExpMap
from nvk.layers.presets import (
    cexp,
    cnn,
    cnn_from_spec,
    mlp,
    mlp_from_arch,
    myrtle,
    myrtle5,
    residual_block,
    resnet_small,
)
from nvk.layers.spatial import AvgPool, Conv, Flatten, GlobalAvgPool
from nvk.layers.state import KernelState, initial_state
from nvk.layers.twins import KernelFn, LayerNet, build_net, kernel_fn, twins

__all__ = [
    "ACTIVATIONS",
    "Abs",
    "Activation",
    "AvgPool",
    "Conv",
    "Dense",
    "Erf",
    "ExpMap",
    "FanInSum",
    "FanOut",
    "Flatten",
    "GlobalAvgPool",
    "Identity",
    "KernelFn",
    "KernelState",
    "Layer",
    "LayerKernel",
    "LayerNet",
    "LeakyReLU",
    "NoFiniteTwinError",
    "Parallel",
    "ReLU",
    "Serial",
    "Sign",
    "Step",
    "analytic_kernel",
    "as_activation",
    "build_net",
    "cexp",
    "cnn",
    "cnn_from_spec",
    "fused_kernel",
    "initial_state",
    "kernel_fn",
    "mlp",
    "mlp_from_arch",
    "myrtle",
    "myrtle5",
    "parallel",
    "residual_block",
    "resnet_small",
    "serial",
    "twins",
]

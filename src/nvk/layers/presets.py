"""Ready-made layer lists: the project's MLP, CNN and C-Exp, Myrtle and a small ResNet.

Each function returns a `Serial` layer; `twins(layer, in_shape)` gives its network and kernel.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from nvk.arch import ArchSpec, ConvSpec
from nvk.layers.activations import Activation, as_activation
from nvk.layers.base import check_choice, check_int
from nvk.layers.combinators import FanInSum, FanOut, Serial, parallel, serial
from nvk.layers.dense import Dense, Identity
from nvk.layers.kernel_only import ExpMap
from nvk.layers.spatial import AvgPool, Conv, Flatten, GlobalAvgPool

SQRT2 = math.sqrt(2.0)
_READOUTS = ("flatten", "trace", "gap")


def _readout(readout: str, name: str) -> Flatten | GlobalAvgPool:
    check_choice(readout, "readout", name, _READOUTS)
    return GlobalAvgPool() if readout == "gap" else Flatten()


def mlp(
    depth: int = 3,
    width: int = 512,
    out: int = 1,
    *,
    W_std: float = SQRT2,
    b_std: float = 0.0,
    bias_init: str = "zero",
    parameterization: str = "ntk",
    activation: str | Activation = "relu",
) -> Serial:
    """The Core MLP (`nvk.arch.ArchSpec`, `nvk.nets.MLP`, kernels `nvk.kernels.fc_nngp/fc_ntk`):
    depth − 1 × [Dense(width, σ_w, β), ReLU], then Dense(out, W_std=1, β) (readout scale 1).
    Depth 1 is the linear model. `activation`: a name of `nvk.layers.ACTIVATIONS` or an
    `Activation` in place of ReLU (then it is no longer the Core MLP of `nvk.kernels.fc`)."""
    check_int(depth, "depth", "mlp")
    act = as_activation(activation)
    kw = dict(b_std=b_std, bias_init=bias_init, parameterization=parameterization)
    hidden = [[Dense(width, W_std, **kw), act] for _ in range(depth - 1)]
    return serial(*hidden, Dense(out, 1.0, **kw))


def mlp_from_arch(arch: ArchSpec, out: int = 1) -> Serial:
    """`mlp` with every value taken from an `ArchSpec`."""
    return mlp(
        arch.depth, arch.width, out, W_std=arch.sigma_w, b_std=arch.bias,
        bias_init=arch.bias_init, parameterization=arch.parameterization,
    )  # fmt: skip


def cnn(
    depth: int = 3,
    channels: int = 128,
    readout: str = "flatten",
    out: int = 1,
    *,
    W_std: float = SQRT2,
    parameterization: str = "ntk",
    activation: str | Activation = "relu",
) -> Serial:
    """The CNTK's CNN (`nvk.arch.ConvSpec`, `nvk.nets.CNN`, kernel `nvk.kernels.cntk`, Arora
    et al. 2019): depth × [Conv(channels, 3×3, stride 1, same padding, no bias), ReLU], then
    Flatten ("flatten" = the kernel's "trace" readout) or GlobalAvgPool ("gap"), then
    Dense(out, W_std=1). `activation` as in `mlp`."""
    check_int(depth, "depth", "cnn")
    act = as_activation(activation)
    conv = [[Conv(channels, 3, W_std=W_std, parameterization=parameterization), act]
            for _ in range(depth)]  # fmt: skip
    return serial(
        *conv, _readout(readout, "cnn"), Dense(out, 1.0, parameterization=parameterization)
    )


def cnn_from_spec(spec: ConvSpec, out: int = 1) -> Serial:
    """`cnn` with every value taken from a `ConvSpec`."""
    return cnn(spec.depth, spec.channels, spec.readout, out, W_std=spec.sigma_w,
               parameterization=spec.parameterization)  # fmt: skip


def cexp(
    depth: int = 3,
    c: float = 1.0,
    gamma: float = 1.0,
    readout: str = "trace",
    *,
    in_shape: Sequence[int],
) -> Serial:
    """C-Exp (Geifman et al. 2020, `nvk.kernels.cexp`) as a kernel-only list (NNGP only; no
    finite twin): Conv(3×3) then `ExpMap(c, γ)`, depth times, then the readout.

    `nvk.kernels.cexp` works on raw patch inner products S¹ = 𝒫(x xᵀ), Sˡ⁺¹ = 𝒫(Kˡ)/9 and the
    trace readout Σ_p K_pp; the layers' per-channel normalization is matched by the scales
    σ_w = 3√C on the first Conv (σ_w²/9 · x·z/C = x·z), σ_w = 1 on the later ones, and a readout
    Dense with σ_w = √P for "trace" (P · mean_p) or 1 for "gap" — hence `in_shape` (C, H, W).
    The map is 1-homogeneous, so these constants only scale the kernel.
    """
    check_int(depth, "depth", "cexp")
    shape = tuple(int(s) for s in in_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"cexp: in_shape must be (C, H, W), got {tuple(in_shape)}")
    head = _readout(readout, "cexp")
    layers = [Conv(1, 3, W_std=3 * math.sqrt(shape[0])), ExpMap(c, gamma)]
    for _ in range(depth - 1):
        layers += [Conv(1, 3, W_std=1.0), ExpMap(c, gamma)]
    scale = math.sqrt(shape[1] * shape[2]) if isinstance(head, Flatten) else 1.0
    return serial(*layers, head, Dense(1, W_std=scale))


_MYRTLE = {5: (2, 1, 1), 7: (2, 2, 2), 10: (3, 3, 3)}


def myrtle(
    depth: int = 5,
    channels: int = 128,
    out: int = 10,
    *,
    W_std: float = SQRT2,
    parameterization: str = "ntk",
    activation: str | Activation = "relu",
) -> Serial:
    """Myrtle CNN (Shankar et al. 2020, "Neural kernels without tangents"), the variant of
    neural-tangents' Myrtle example: 3×3 same-padding Convs + ReLU in three stages of
    (2, 1, 1) [depth 5], (2, 2, 2) [7] or (3, 3, 3) [10] layers, AvgPool(2) after stages one and
    two, then global average pooling and Dense(out, W_std=1). On 32×32 inputs the final GAP
    equals the example's three further AvgPool(2) (8×8 → 1×1); here it also takes other sizes
    (H, W ≥ 4; the 2×2 pools drop an odd last row/column, as valid pooling does). No biases;
    the readout scale is 1 (the project's convention; the example's √2 only scales the kernel
    by 2). `activation` as in `mlp`."""
    if depth not in _MYRTLE:
        raise ValueError(f"myrtle: depth must be one of {tuple(_MYRTLE)}, got {depth!r}")
    act = as_activation(activation)

    def stage(n: int) -> list:
        return [[Conv(channels, 3, W_std=W_std, parameterization=parameterization), act]
                for _ in range(n)]  # fmt: skip

    a, b, c = _MYRTLE[depth]
    return serial(
        stage(a), AvgPool(2), stage(b), AvgPool(2), stage(c),
        GlobalAvgPool(), Dense(out, 1.0, parameterization=parameterization),
    )  # fmt: skip


def myrtle5(channels: int = 128, out: int = 10, **kwargs) -> Serial:
    """`myrtle(depth=5)`: Conv-ReLU ×2, AvgPool(2), Conv-ReLU, AvgPool(2), Conv-ReLU, GAP, Dense."""
    return myrtle(5, channels, out, **kwargs)


def residual_block(
    channels: int,
    *,
    W_std: float = SQRT2,
    parameterization: str = "ntk",
    activation: str | Activation = "relu",
):
    """x ↦ x + Conv(ReLU(Conv(ReLU(x)))), the pre-activation block of He et al. 2016 ("Identity
    mappings in deep residual networks"): FanOut(2), parallel(serial(ReLU, Conv, ReLU, Conv),
    Identity()), FanInSum(). The skip carries pre-activations (Gaussian in the limit), so the
    sum stays Gaussian and later ReLUs keep their closed forms; the Conv ending the residual
    branch makes the two branches uncorrelated, so their kernels add
    (`nvk.layers.combinators`). `activation` (as in `mlp`) in place of ReLU."""
    act = as_activation(activation)
    kw = dict(W_std=W_std, parameterization=parameterization)
    branch = serial(act, Conv(channels, 3, **kw), act, Conv(channels, 3, **kw))
    return serial(FanOut(2), parallel(branch, Identity()), FanInSum())


def resnet_small(
    blocks: int = 2,
    channels: int = 64,
    readout: str = "gap",
    out: int = 1,
    *,
    W_std: float = SQRT2,
    parameterization: str = "ntk",
    activation: str | Activation = "relu",
) -> Serial:
    """A small pre-activation residual CNN: Conv(channels), `blocks` × `residual_block`, ReLU,
    then GAP (or Flatten) and Dense(out, W_std=1). Each block adds the residual branch's
    kernel to the skip's, so the variance grows by about 2× per block (no normalization).
    `activation` (as in `mlp`) in place of every ReLU."""
    check_int(blocks, "blocks", "resnet_small", minimum=0)
    act = as_activation(activation)
    kw = dict(W_std=W_std, parameterization=parameterization)
    return serial(
        Conv(channels, 3, **kw),
        [residual_block(channels, **kw, activation=act) for _ in range(blocks)],
        act,
        _readout(readout, "resnet_small"),
        Dense(out, 1.0, parameterization=parameterization),
    )

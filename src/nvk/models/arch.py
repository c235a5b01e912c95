"""`model=net|ntk|nngp`: the finite network and the analytic kernels of one layer list.

`arch` is what Hydra builds from `conf/arch/<name>.yaml` (`${arch}`): a partial call of a
preset of `nvk.layers` (`mlp`, `cnn`, `resnet_small`, `myrtle5`) that still lacks `out`. The
data supply the rest (`DataInfo`): `out` is the number of outputs, and the input shape is the
data's (C, H, W) when the list takes images (Conv layers; image archs set `data.flatten:
false`), else the data's rows flattened to vectors (an MLP on images flattens them, as model=mlp
does). `arch_layers` does this for both models, so a network and its kernel model built from the
same config are the two faces of one list (`nvk.layers.twins`).

* `ArchNetModule` (model=net) trains `nvk.layers.build_net(list)` like model=mlp (`NetModule`).
* `ArchKernelModule` (model=ntk|nngp) is a `KernelModule` whose kernel is the list's
  NTK/NNGP from `nvk.layers.analytic_kernel` (the fused `nvk.kernels` function when the list
  is the Core ReLU MLP or the CNTK's CNN, else the composed kernel), tiled by `gram`.
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from nvk.data.base import DataInfo
from nvk.kernels import kernel_config
from nvk.layers import Layer, analytic_kernel, build_net, fused_kernel, serial
from nvk.layers.base import Shape
from nvk.models.kernel import KernelModule
from nvk.models.net import NetModule, OptimizerFactory
from nvk.solvers.base import Solver

Arch = Callable[..., Layer] | Layer | Sequence[Layer]


def _as_list(arch: Arch, info: DataInfo) -> Layer:
    if isinstance(arch, Layer):
        return arch
    if isinstance(arch, Sequence):
        return serial(*arch)
    if callable(arch):
        layer = arch(out=info.num_outputs)
        if not isinstance(layer, Layer):
            got = type(layer).__name__
            raise TypeError(f"arch {describe_arch(arch)} returned a {got}, not a Layer")
        return layer
    raise TypeError(f"arch must be a preset call (conf/arch/) or a Layer, got {arch!r}")


def arch_in_shape(layer: Layer, data_shape: Sequence[int]) -> Shape:
    """The input shape the list takes from data of `data_shape`: the data's own shape, else
    (for images) their flattened rows; ValueError saying what the list needs otherwise."""
    shape = tuple(int(s) for s in data_shape)
    shapes = [shape] if len(shape) == 1 else [shape, (math.prod(shape),)]
    errors = []
    for s in shapes:
        try:
            layer.out_shape(s)
        except ValueError as e:
            errors.append(f"{s}: {e}")
        else:
            return s
    hint = (
        " Image archs (conf/arch/cnn|resnet|myrtle5) need (C, H, W) images: data.flatten=false"
        if len(shape) == 1
        else ""
    )
    raise ValueError(
        f"the arch cannot take the data's inputs of shape {shape}: {'; '.join(errors)}.{hint}"
    )


def arch_layers(arch: Arch, info: DataInfo) -> tuple[Layer, Shape]:
    """(layer list with `out` = the data's number of outputs, its input shape) for the data
    `info` describes (module docstring)."""
    layer = _as_list(arch, info)
    in_shape = arch_in_shape(layer, info.in_shape)
    out = layer.out_shape(in_shape)
    if out != (info.num_outputs,):
        raise ValueError(
            f"the arch ends in {out} features but the data {info.name!r} has "
            f"{info.num_outputs} outputs"
        )
    return layer, in_shape


def _plain(v: Any) -> Any:
    return v if isinstance(v, (int, float, str, bool, type(None))) else repr(v)


def describe_arch(arch: Arch) -> dict[str, Any]:
    """A plain dict of the arch for records (hyperparameters): the preset and its arguments."""
    if isinstance(arch, functools.partial):
        fn = arch.func
        return {
            "preset": f"{fn.__module__}.{fn.__qualname__}",
            **{k: _plain(v) for k, v in arch.keywords.items()},
        }
    return {"layers": repr(arch)}


class ArchNetModule(NetModule):
    """`model=net`: the finite network of the arch (`nvk.layers.build_net`), trained with the
    configured optimizer like model=mlp (cross-entropy / MSE, `NetModule`)."""

    def __init__(
        self,
        info: DataInfo,
        arch: Arch,
        optimizer: OptimizerFactory,
        scheduler: Callable[..., Any] | None = None,
    ) -> None:
        layer, in_shape = arch_layers(arch, info)
        super().__init__(build_net(layer, in_shape), info, optimizer, scheduler)
        self.layer, self.in_shape = layer, in_shape
        self.save_hyperparameters(
            {"arch": describe_arch(arch), "in_shape": list(in_shape), "data": info.__dict__}
        )


class ArchKernelModule(KernelModule):
    """`model=ntk|nngp`: a `KernelModule` whose kernel is the arch's analytic NTK
    (`get="ntk"`) or NNGP (`get="nngp"`), `nvk.layers.analytic_kernel`; `solver` and `tile` as
    in `KernelModule`."""

    def __init__(
        self, info: DataInfo, arch: Arch, solver: Solver, *, get: str = "ntk", tile: int = 2048
    ) -> None:
        layer, in_shape = arch_layers(arch, info)
        super().__init__(info, analytic_kernel(layer, in_shape, get), solver, tile=tile)
        self.layer, self.in_shape, self.get = layer, in_shape, get
        self.save_hyperparameters(
            {**self.hparams, "arch": describe_arch(arch), "in_shape": list(in_shape), "get": get}
        )


def kernel_model_form(cfg: DictConfig, info: DataInfo) -> DictConfig:
    """`cfg` with an arch kernel model (model=ntk|nngp: `ArchKernelModule`) whose list a fused
    `nvk.kernels` function computes, rewritten as the kernel model of that function's config:
    `cfg.kernel` = its `conf/kernel/` form (`nvk.kernels.kernel_config`, e.g. fc_ntk's depth,
    σ_w, β), `cfg.model` = `KernelModule(kernel=${kernel})`. Studies that sweep kernel
    parameters by name (experiment=table2) work on this form; the values are the same kernel's.
    Any other config is returned unchanged; an arch kernel without a fused function is a
    ValueError (it has no kernel config to sweep)."""
    if cfg.get("kernel") is not None or not str(cfg.model.get("_target_", "")).endswith(
        "ArchKernelModule"
    ):
        return cfg
    get = cfg.model.get("get", "ntk")
    layer, in_shape = arch_layers(instantiate(cfg.arch), info)
    fused = fused_kernel(layer, in_shape, get)
    if fused is None:
        raise ValueError(
            f"this study sweeps kernel parameters of conf/kernel/; the {get} of this arch "
            f"({describe_arch(instantiate(cfg.arch))}) is composed from its layers and has no "
            "kernel config: use a ReLU MLP arch or model=kernel kernel=<name>"
        )
    out = copy.deepcopy(cfg)
    with open_dict(out):
        out.kernel = OmegaConf.create(kernel_config(fused))
        out.model = OmegaConf.create(
            {"_target_": "nvk.models.KernelModule", "kernel": "${kernel}",
             "solver": "${solver}", "tile": cfg.model.get("tile", 2048)}
        )  # fmt: skip
    return out

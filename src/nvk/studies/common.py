"""Helpers every study shares: plain config values, spec hashes, fixed rounding, figures."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from nvk.utils.io import atomic_write_bytes

DIGITS = 12  # stored accuracies: ratios of small integers, exact enough to compare at 12 places


def plain(x: Any) -> Any:
    """An OmegaConf container as plain (resolved) dicts and lists; anything else as it is."""
    return OmegaConf.to_container(x, resolve=True) if OmegaConf.is_config(x) else x


def config_kernel(cfg: Any, info: Any, **point: Any) -> Callable[..., Any] | None:
    """The kernel a kernel-model config computes, with `point`'s values (a grid point): its
    `conf/kernel/` entry, or for model=ntk|nngp (`ArchKernelModule`) the arch's analytic kernel
    (`nvk.layers.analytic_kernel`: fused where a `nvk.kernels` function computes the list);
    None for a network. `info`: the data's `DataInfo` (input shape, number of outputs)."""
    from hydra.utils import instantiate

    if cfg.get("kernel") is not None:
        return instantiate(cfg.kernel, **point)
    if not str(cfg.model.get("_target_", "")).endswith("ArchKernelModule"):
        return None
    from nvk.layers import analytic_kernel
    from nvk.models.arch import arch_layers

    layer, in_shape = arch_layers(instantiate(cfg.arch, **point), info)
    return analytic_kernel(layer, in_shape, cfg.model.get("get", "ntk"))


def task_options(cfg: Any, cls: type, own: tuple[str, ...] = ()) -> Any:
    """A study's options (the dataclass `cls`) from `cfg.task`, where every study keeps them
    beside the task's own arguments (`own`, e.g. records_dir): `task.threshold=0.05`. A key
    that is neither is a ValueError listing the valid ones."""
    import dataclasses

    names = {f.name for f in dataclasses.fields(cls)}
    task = plain(cfg.get("task")) or {}
    keys = {k: v for k, v in task.items() if not k.startswith("_") and k not in own}
    unknown = sorted(set(keys) - names)
    if unknown:
        raise ValueError(f"task.{unknown[0]} is not an option of this study; valid: "
                         f"{', '.join(sorted(names | set(own)))}")  # fmt: skip
    return cls(**keys)


def model_spec(model: Any) -> Any:
    """`plain(model)` as records' specs hold a model config: without `activation: relu`, the
    default that arrived with the shared arch config (conf/arch/), so the specs of ReLU runs
    recorded before it are unchanged and their records stay valid."""
    spec = plain(model)
    if isinstance(spec, dict) and spec.get("activation") == "relu":
        spec = {k: v for k, v in spec.items() if k != "activation"}
    return spec


def spec_hash(spec: dict[str, Any], version: int) -> str:
    """sha256 (16 hex digits) of a record's spec and its format version (sorted keys)."""
    blob = json.dumps({"version": version, "spec": spec}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def union_seconds(intervals: Iterable[tuple[float, float]]) -> float:
    """Length of the union of (start, end) intervals: a study's wall time from its cells'."""
    total, covered = 0.0, float("-inf")  # by start; count only what lies past `covered`
    for a, b in sorted(intervals):
        total += max(0.0, b - max(a, covered))
        covered = max(covered, b)
    return total


def rounded(x: float) -> float:
    """The fixed rounding of every stored accuracy (`DIGITS` decimals)."""
    return round(float(x), DIGITS)


def save_figure(fig: Any, path: str | Path, **savefig: Any) -> Path:
    """`fig` as a PNG at `path`, written atomically (the whole file or none), then closed;
    `savefig`: matplotlib's options as the study chooses them (dpi, bbox_inches, metadata)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", **savefig)
    plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())

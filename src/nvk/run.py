"""What `train.py` and `evaluate.py` run: compose-time objects in, metrics out.

Everything is built with `hydra.utils.instantiate`; there is no per-model logic here.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ModelCheckpoint
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import InterpolationKeyError

from nvk.entry import prepare_environment
from nvk.kernels.keops import defer_keops_cache
from nvk.models.guards import NonFiniteError, with_finite_loss_guard
from nvk.utils.io import (
    DamagedFileError,
    atomic_write_json,
    atomic_write_text,
    check_archive,
    set_aside,
)
from nvk.utils.provenance import provenance

log = logging.getLogger("nvk")
prepare_environment()  # W&B offline unless chosen otherwise, also when called from a notebook

# Lightning attaches its own console handler; let its records flow to Hydra's (console + file).
for _name in ("lightning", "lightning.pytorch", "lightning.fabric"):
    logging.getLogger(_name).handlers.clear()
    logging.getLogger(_name).propagate = True
logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(
    lambda r: "litlogger" not in r.getMessage()  # an advertisement, not information
)


def _instantiate_group(cfg: DictConfig | None) -> list[Any]:
    """Instantiate every entry of a dict-of-configs group (callbacks, logger); skip nulls."""
    if not cfg:
        return []
    return [instantiate(c) for c in cfg.values() if c is not None and "_target_" in c]


def instantiate_loggers(cfg: DictConfig) -> list[Any]:
    """The Lightning loggers `cfg.logger` names (logger=many: W&B, offline unless chosen
    otherwise, and CSV; logger=csv: CSV alone; logger=none: none)."""
    return _instantiate_group(cfg.get("logger"))


def build(cfg: DictConfig, **runtime: Any) -> Any:
    """`instantiate(cfg)` with Python objects known only at run time (e.g. `info=DataInfo`)
    passed as they are (Hydra would turn dataclass arguments into configs). A model key that
    reads an `arch.<key>` the chosen arch lacks (model=mlp with arch=cnn) is a ValueError
    saying which models take which archs."""
    try:
        factory = instantiate(cfg, _partial_=True)
    except InterpolationKeyError as e:
        if "'arch." not in str(e):
            raise
        raise ValueError(
            f"the model config reads {str(e).split(chr(39))[1]!r}, which the chosen arch lacks: "
            "model=mlp is the network of arch=mlp; for the other archs of conf/arch/ use "
            "model=net (the network) or model=ntk|nngp (its kernels)"
        ) from e
    return factory(**runtime)


def finish_wandb(exit_code: int = 0) -> None:
    """Close the W&B run if one is open; `exit_code` != 0 marks it failed in W&B."""
    try:
        import wandb

        if wandb.run is not None:
            wandb.finish(exit_code=exit_code)
    except Exception as e:  # never let closing W&B mask the job's own outcome
        log.warning("closing W&B failed: %s", e)


def write_run_records(cfg: DictConfig, output_dir: str | Path) -> None:
    """Resolved config and provenance record into the run directory."""
    out = Path(output_dir)
    atomic_write_text(out / "config_resolved.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    atomic_write_json(out / "provenance.json", provenance(cfg))


def _to_floats(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float, torch.Tensor))}


def summary_line(metrics: dict[str, float], output_dir: str | Path) -> str:
    keys = [k for k in ("test/acc", "test/auc", "test/mse", "test/loss") if k in metrics]
    shown = "  ".join(f"{k}={metrics[k]:.4f}" for k in keys)
    return f"[nvk] done  {shown}  run_dir={output_dir}"


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit `cfg.model` on `cfg.data`, test the best checkpoint, write records, return metrics."""
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True, verbose=False)
    torch.set_float32_matmul_precision("high")
    defer_keops_cache(Path(cfg.paths.cache_dir) / "keops")  # KeOps builds land in the run cache

    datamodule = instantiate(cfg.data)
    datamodule.setup()  # loads and validates (NaN/inf, shapes) before anything trains
    resolve_optimized_metric(cfg, datamodule.info.task)
    model = build(cfg.model, info=datamodule.info)
    # NaN/inf training loss stops the run (nvk.models.guards), also with callbacks=none
    callbacks = with_finite_loss_guard(_instantiate_group(cfg.get("callbacks")))
    loggers = instantiate_loggers(cfg)
    trainer: L.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    write_run_records(cfg, output_dir)

    failed = True  # until metrics.json is written: W&B then records the run as failed
    try:
        for lg in loggers:
            lg.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))  # type: ignore[arg-type]
        metrics: dict[str, float] = {}
        record: dict[str, Any] = {}
        if cfg.get("train", True):
            resume = resume_checkpoint(cfg.get("ckpt_path"))
            trainer.fit(model, datamodule=datamodule, ckpt_path=resume)
            metrics.update(_to_floats(trainer.callback_metrics))
        if cfg.get("test", True):
            record["checkpoint"] = ckpt = _best_checkpoint(trainer)
            trainer.test(model, datamodule=datamodule, ckpt_path=ckpt, verbose=False)
            metrics.update(_to_floats(trainer.callback_metrics))
        atomic_write_json(output_dir / "metrics.json", {**metrics, **record})
        for lg in loggers:
            lg.finalize("success")
        failed = False
    except NonFiniteError as e:  # logged now: a sweep reports a failed job only at its end
        e.add_note(f"run_dir: {output_dir}")
        log.error("%s  run_dir=%s", e, output_dir)
        raise
    finally:
        finish_wandb(exit_code=int(failed))
    print(summary_line(metrics, output_dir), flush=True)
    return metrics


def _best_checkpoint(trainer: L.Trainer) -> str | None:
    cb = trainer.checkpoint_callback
    if (
        isinstance(cb, ModelCheckpoint)
        and cb.best_model_path
        and os.path.exists(cb.best_model_path)
    ):
        return cb.best_model_path
    return None  # test the weights in memory (no checkpointing configured)


def evaluate_checkpoint(cfg: DictConfig) -> dict[str, float]:
    """`evaluate.py task=test_checkpoint ckpt_path=...`: rebuild the run's data and model from
    the run directory's saved config, load the checkpoint, and test it."""
    ckpt = Path(cfg.ckpt_path)
    if not ckpt.is_file():
        raise FileNotFoundError(f"checkpoint not found: {ckpt}")
    try:
        check_archive(ckpt)
    except DamagedFileError as e:  # nothing to recompute here: say which file, keep it
        raise DamagedFileError(
            f"checkpoint {ckpt} is damaged ({e}); test another one from {ckpt.parent}"
        ) from e
    run_dir = ckpt.resolve().parent.parent  # <run_dir>/checkpoints/<name>.ckpt
    saved = run_dir / ".hydra" / "config.yaml"
    if not saved.is_file():
        raise FileNotFoundError(
            f"no training config at {saved}; pass a checkpoint written by train.py "
            "(<run_dir>/checkpoints/*.ckpt)"
        )
    run_cfg = OmegaConf.load(saved)
    defer_keops_cache(Path(cfg.paths.cache_dir) / "keops")
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    datamodule = instantiate(run_cfg.data)
    datamodule.setup()
    model = build(run_cfg.model, info=datamodule.info)
    loggers = instantiate_loggers(cfg)
    trainer: L.Trainer = instantiate(cfg.trainer, logger=loggers or False, callbacks=[])
    write_run_records(cfg, output_dir)
    try:
        trainer.test(model, datamodule=datamodule, ckpt_path=str(ckpt), verbose=False)
        metrics = _to_floats(trainer.callback_metrics)
        atomic_write_json(output_dir / "metrics.json", {**metrics, "checkpoint": str(ckpt)})
    finally:
        finish_wandb()
    print(summary_line(metrics, output_dir), flush=True)
    return metrics


def resume_checkpoint(path: str | None) -> str | None:
    """The `ckpt_path` to resume training from, checked first (`check_archive`): a missing one
    is a FileNotFoundError; a damaged one is set aside (`<name>.damaged-<time>`) with a
    warning and training starts from the beginning (None)."""
    if not path:
        return None
    if path in ("last", "best", "hpc", "registry") or "://" in str(path):
        return str(path)  # Lightning's own names and remote paths: Lightning resolves them
    p = Path(path)
    if not p.is_file():
        if list(p.parent.glob(f"{p.name}.damaged-*")):  # another DDP rank set it aside
            return None
        raise FileNotFoundError(f"ckpt_path={path}: no such checkpoint to resume from")
    try:
        check_archive(p)
    except DamagedFileError as e:
        set_aside(
            p, str(e), then=f"ckpt_path={path} is ignored: training starts from the beginning"
        )
        return None
    return str(p)


def resolve_optimized_metric(cfg: DictConfig, task: str) -> None:
    """`optimized_metric: auto` -> val/acc (classification) or val/mse (regression), in place,
    so the recorded config and the value train.py returns agree."""
    if cfg.get("optimized_metric") == "auto":
        with open_dict(cfg):
            cfg.optimized_metric = "val/acc" if task == "classification" else "val/mse"


def metric_value(metrics: dict[str, float], name: str | None) -> float | None:
    """The value a sweep optimizes; a clear error listing the available keys if absent."""
    if not name:
        return None
    if name not in metrics:
        raise KeyError(f"optimized_metric={name!r} was not logged; available: {sorted(metrics)}")
    return metrics[name]

"""Convolutional study (Geifman et al. 2020, Table 3): CNTK and C-Exp beside their CNN twin.

Two tasks (no kernel math here; kernels: `nvk.kernels.conv`, tiling: `nvk.kernels.gram`):

- `gram_tiles` (`python train.py experiment=conv_gram ...`): one job of a Gram matrix split
  into independent jobs (Hydra multirun: joblib locally, submitit on SLURM), or, with
  `action=assemble`, the finished blocks written into one memory-mapped .npy.
- `table3` (`python evaluate.py task=table3`): the test accuracy of every convolutional run
  (model=cnn, cntk, cexp_*) under a log folder, side by side per data set and subset; writes
  `table3.csv`, `table3.json` and `table3.md` atomically and prints the table.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from nvk.kernels.gram import assemble_gram, bind_image_shape, gram_part
from nvk.utils.io import atomic_write_json, atomic_write_text, read_checked, require_keys

log = logging.getLogger("nvk")

SPLITS = ("train", "val", "test")
ACTIONS = ("compute", "assemble")
MODEL_ORDER = ("cnn", "cntk", "cexp_laplace", "cexp_gaussian", "cexp_gamma_exp")


def gram_tiles(
    cfg: DictConfig,
    *,
    split: str = "train",
    job: int = 0,
    jobs: int = 1,
    action: str = "compute",
    cache_dir: str,
    out: str | None = None,
    device: str | None = None,
    progress: bool = True,
    dtype: str = "float64",
    tile: int | None = None,
) -> dict[str, float]:
    """K(X_split, X_train) of `cfg.kernel` on `cfg.data`, in `tile` (default `cfg.model.tile`)
    blocks of `dtype` (the CIFAR-10 study's rows read the same cache with its tile and dtype).

    `action="compute"`: the blocks job, job + jobs, … into `cache_dir` (finished blocks are
    skipped, so a killed job resumes); `"assemble"`: all blocks into `out` (.npy, memory-mapped
    on read; None: `K.npy` in the matrix's cache folder), computing first any block still
    missing (e.g. a killed job's remainder). Returns {"gram/blocks", "gram/rows", "gram/cols"}.
    """
    if split not in SPLITS:
        raise ValueError(f"gram_tiles: split must be one of {SPLITS}, got {split!r}")
    if action not in ACTIONS:
        raise ValueError(f"gram_tiles: action must be one of {ACTIONS}, got {action!r}")
    if cfg.get("kernel") is None:
        raise ValueError("gram_tiles needs a kernel model, e.g. model=cntk or model=cexp_laplace")
    dm = instantiate(cfg.data)
    dm.setup()
    data = dm.full_batch()
    x1 = getattr(data, f"x_{split}")
    x2 = None if split == "train" else data.x_train
    kernel = bind_image_shape(instantiate(cfg.kernel), dm.info.in_shape)
    folder = gram_part(
        kernel,
        x1,
        x2,
        job=job if action == "compute" else 0,
        jobs=jobs if action == "compute" else 1,
        cache_dir=cache_dir,
        tile=int(tile or cfg.model.get("tile", 2048)),
        dtype=getattr(torch, dtype),
        device=device,
        progress=progress,
    )
    rows, cols = len(x1), len(data.x_train)
    if action == "assemble":
        out = str(Path(folder) / "K.npy") if out is None else out
        assemble_gram(folder, out)
        log.info("assembled K(%s, train) %d x %d into %s", split, rows, cols, out)
    blocks = len(list(Path(folder).glob("r*_c*.pt")))
    print(f"[nvk] gram {split}: job {job}/{jobs}, {blocks} blocks in {folder}", flush=True)
    return {"gram/blocks": float(blocks), "gram/rows": float(rows), "gram/cols": float(cols)}


# -- Table 3 --------------------------------------------------------------------------------
def model_label(run_cfg: DictConfig) -> str | None:
    """cnn | cntk | cexp_laplace | cexp_gaussian | cexp_gamma_exp from a run's saved config;
    None for models outside the study."""
    target = str(run_cfg.model.get("_target_", ""))
    if target.endswith("CNNModule"):
        return "cnn"
    kernel = run_cfg.get("kernel")
    if not target.endswith("KernelModule") or kernel is None:
        return None
    name = str(kernel.get("_target_", "")).rsplit(".", 1)[-1]
    if name == "cntk":
        return "cntk"
    if name == "cexp":
        gamma = float(kernel.get("gamma", 1.0))
        return {1.0: "cexp_laplace", 2.0: "cexp_gaussian"}.get(gamma, "cexp_gamma_exp")
    return None


def collect_runs(runs_dir: str | Path) -> list[dict[str, Any]]:
    """One record per finished run (metrics.json + .hydra/config.yaml) of a study model."""
    records = []
    for metrics_path in sorted(Path(runs_dir).rglob("metrics.json")):
        cfg_path = metrics_path.parent / ".hydra" / "config.yaml"
        if not cfg_path.is_file():
            continue
        run_cfg = OmegaConf.load(cfg_path)
        label = model_label(run_cfg)
        metrics = read_checked(metrics_path, check=require_keys, keep=True)
        if label is None or metrics is None or "test/acc" not in metrics:
            continue
        data = run_cfg.data
        depth = run_cfg.kernel.depth if label != "cnn" else run_cfg.model.depth
        records.append(
            {
                "data": str(data._target_).rsplit(".", 1)[-1].removesuffix("DataModule").lower(),
                "subset": data.get("subset"),
                "model": label,
                "depth": int(depth),
                "test/acc": float(metrics["test/acc"]),
                "run_dir": str(metrics_path.parent),
            }
        )
    return records


def table3_rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Side by side: one row per (data, subset), one column per model (the latest run)."""
    rows: dict[tuple[str, Any], dict[str, Any]] = {}
    for r in records:  # sorted by path, so later runs of the same cell replace earlier ones
        row = rows.setdefault((r["data"], r["subset"]), {"data": r["data"], "subset": r["subset"]})
        row[r["model"]] = r["test/acc"]
        row[f"{r['model']}/depth"] = r["depth"]
    return list(rows.values())


def _markdown(rows: list[dict[str, Any]], models: list[str]) -> str:
    head = ["data", "subset", *models]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [str(r["data"]), "all" if r["subset"] is None else str(r["subset"])]
        for m in models:
            v = r.get(m)
            cells.append("–" if v is None or math.isnan(v) else f"{v:.4f} (D={r[f'{m}/depth']})")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def table3(cfg: DictConfig, *, runs_dir: str, out_dir: str) -> dict[str, float]:
    """`python evaluate.py task=table3`: collect, tabulate, write, print; returns
    {"table3/<data>/<subset>/<model>/acc": accuracy}."""
    records = collect_runs(runs_dir)
    if not records:
        raise FileNotFoundError(
            f"table3: no finished cnn/cntk/cexp_* runs (metrics.json + .hydra/config.yaml) "
            f"under {runs_dir}; run e.g. `python train.py model=cntk` first"
        )
    rows = table3_rows(records)
    models = [m for m in MODEL_ORDER if any(m in r for r in rows)]
    out = Path(out_dir)
    md = _markdown(rows, models)
    atomic_write_text(out / "table3.md", md)
    atomic_write_json(out / "table3.json", {"rows": rows, "runs": records})
    csv_lines = [",".join(["data", "subset", *models])]
    for r in rows:
        vals = ["" if r.get(m) is None else f"{r[m]:.6f}" for m in models]
        csv_lines.append(",".join([str(r["data"]), str(r["subset"] or "all"), *vals]))
    atomic_write_text(out / "table3.csv", "\n".join(csv_lines) + "\n")
    print(md, flush=True)
    return {
        f"table3/{r['data']}/{r['subset'] or 'all'}/{m}/acc": float(r[m])
        for r in rows
        for m in models
        if m in r
    }

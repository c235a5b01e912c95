"""Large-scale study (Geifman et al. 2020, Table 2): FALKON on MillionSongs, SUSY and HIGGS.

    python train.py experiment=table2 data=susy model=h_laplace      # one cell: select, fit, test
    python train.py -m experiment=table2_sweep                       # every dataset x kernel
    python evaluate.py task=table2                                   # the table from the records

`run_table2(cfg)` (the train task of `experiment=table2`) chooses the kernel's parameters
(`task.grids[<kernel name>]`) and the ridge (`task.ridge`) on the data module's validation
split, which is drawn from the training rows, with cheaper fits (`task.select_rows` training
rows, the solver options of `task.select_solver`); then it runs `nvk.run.train` with the chosen
values and writes `table2.json` (dataset, kernel, choice, metrics, time, memory) into the run
directory. Selection points are recorded atomically in `selection.json` as they finish, and a
rerun into the same directory skips those already done.

`summarize(cfg, runs_dir=...)` (`evaluate.py task=table2`) collects every `table2.json` under
`runs_dir` (the newest per dataset and kernel) into a dataset x kernel table: test MSE for
regression (MillionSongs, years²), test AUC for classification, written as Markdown and JSON.
"""

from __future__ import annotations

import itertools
import json
import logging
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from nvk.kernels import UnknownKernelError, kernel_entry
from nvk.models.arch import kernel_model_form
from nvk.models.metrics import compute_metrics
from nvk.studies.common import task_options
from nvk.utils.io import atomic_write_json, atomic_write_text, read_checked, require_keys

log = logging.getLogger("nvk.studies")

RECORD = "table2.json"
SELECTION = "selection.json"


def kernel_name(kernel_cfg: DictConfig) -> str:
    """The kernel's one name (its registry name, as in `conf/kernel/<name>.yaml`): the key of
    `task.grids` and of the records, e.g. `nvk.kernels.h_gamma_exponential` -> `h_gamma_exp`;
    a function nvk does not know keeps its own name."""
    fn = str(kernel_cfg._target_).rsplit(".", 1)[-1]
    try:
        return kernel_entry(fn).name
    except UnknownKernelError:
        return fn


def selection_metric(task: str, n_classes: int) -> tuple[str, bool]:
    """(validation key, larger is better): val/auc for binary labels, val/acc for several
    classes, val/mse (smaller is better) for regression."""
    if task == "regression":
        return "val/mse", False
    return ("val/auc", True) if n_classes == 2 else ("val/acc", True)


def grid_points(grid: dict[str, list[Any]], ridges: list[float]) -> list[dict[str, Any]]:
    """Every combination of the kernel grid and the ridge, as {"kernel": {...}, "ridge": λ}."""
    names = sorted(grid)
    if not ridges:
        raise ValueError("task.ridge is empty; give at least one ridge value")
    return [
        {"kernel": dict(zip(names, values)), "ridge": float(lam)}
        for values in itertools.product(*(list(grid[k]) for k in names))
        for lam in ridges
    ]


@dataclass(frozen=True)
class Table2Options:
    """The selection of experiment=table2 (`task.*`): `select_rows` training rows per selection
    fit, `select_solver` solver options overridden for those fits, the `ridge` values and the
    kernel-parameter `grids` per kernel name (conf/kernel/)."""

    select_rows: int = 100_000
    select_solver: dict[str, Any] = field(default_factory=dict)
    ridge: list[float] = field(default_factory=lambda: [1e-6])
    grids: dict[str, dict[str, list[Any]]] = field(default_factory=dict)


def select(cfg: DictConfig, datamodule: Any, out_dir: Path) -> tuple[dict[str, Any], list[dict]]:
    """Fit every grid point on a training subsample, score it on the validation split; return
    (best point, all points). Results so far are kept in `out_dir/selection.json`."""
    t2 = task_options(cfg, Table2Options)
    name = kernel_name(cfg.kernel)
    grid = dict(t2.grids.get(name) or {})
    unknown = [k for k in grid if k not in cfg.kernel]  # type: ignore[union-attr]
    if unknown:
        raise ValueError(f"task.grids.{name} names {unknown}, not parameters of the kernel "
                         f"({[k for k in cfg.kernel if not k.startswith('_')]})")  # fmt: skip
    points = grid_points(grid, list(t2.ridge))  # type: ignore[arg-type]
    data, info = datamodule.full_batch(), datamodule.info
    if len(data.x_val) == 0:
        raise ValueError("table2 selects on the validation split: set data.val_size >= 1")
    g = torch.Generator().manual_seed(int(cfg.get("seed") or 0))
    n = len(data.x_train)
    rows = torch.randperm(n, generator=g)[: min(int(t2.select_rows), n)]
    x, y = data.x_train[rows], data.y_train[rows]
    key, larger = selection_metric(info.task, info.num_outputs)
    path = out_dir / SELECTION
    stored = read_checked(path, check=lambda d: require_keys(d, ("points",), SELECTION))
    done = {json.dumps(r["point"], sort_keys=True): r for r in
            (stored["points"] if stored is not None else [])}  # fmt: skip
    for p in points:
        tag = json.dumps(p, sort_keys=True)
        if tag in done:
            continue
        kernel = instantiate(cfg.kernel, **p["kernel"])
        solver = instantiate(cfg.solver, **{**dict(t2.select_solver), "ridge": p["ridge"]})
        t0 = time.perf_counter()
        solver.fit(kernel, x, y, info)
        scores = torch.cat([solver.predict(kernel, data.x_val[s : s + 8192])
                            for s in range(0, len(data.x_val), 8192)])  # fmt: skip
        if info.task == "regression":
            scores = scores.reshape(data.y_val.shape)
        value = compute_metrics("val", scores, data.y_val, info.task, auc=True)[key]
        done[tag] = {"point": p, key: value, "seconds": time.perf_counter() - t0}
        log.info("table2 selection %s: %s = %.5g", tag, key, value)
        atomic_write_json(path, {"metric": key, "points": list(done.values())})
    results = [done[json.dumps(p, sort_keys=True)] for p in points]
    best = (max if larger else min)(results, key=lambda r: r[key])
    return best["point"], results


def run_table2(cfg: DictConfig, **_options: Any) -> dict[str, float]:
    """`train.py experiment=table2`: select on validation, train + test, write `table2.json`.
    The selection's options (`task.grids`, `task.ridge`, …: `Table2Options`) are read from
    `cfg.task`."""
    from nvk.run import train  # the default train task, reused as is

    out_dir = Path(cfg.paths.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    datamodule = instantiate(cfg.data)
    datamodule.setup()
    cfg = kernel_model_form(cfg, datamodule.info)  # model=ntk: fc_ntk's config, swept by name
    best, results = select(cfg, datamodule, out_dir)
    d = datamodule.full_batch()
    sizes = {"n_train": len(d.x_train), "n_val": len(d.x_val), "n_test": len(d.x_test)}
    name, task = datamodule.name, datamodule.info.task
    del datamodule, d  # train() loads its own copy (memory-mapped cache): not two in RAM
    t_select = time.perf_counter() - t0
    log.info("table2: chose %s on the validation split", best)
    with open_dict(cfg):
        for k, v in best["kernel"].items():
            cfg.kernel[k] = v
        cfg.solver.ridge = best["ridge"]
    t0 = time.perf_counter()
    metrics = train(cfg)
    params = OmegaConf.to_container(cfg.kernel, resolve=True)
    record = {
        "dataset": name,
        "task": task,
        "kernel": kernel_name(cfg.kernel),
        "kernel_params": {k: v for k, v in params.items() if not k.startswith("_")},  # type: ignore[union-attr]
        "solver": OmegaConf.to_container(cfg.solver, resolve=True),
        "selected": best,
        "selection": results,
        **sizes,
        "metrics": metrics,
        "select_s": t_select,
        "train_test_s": time.perf_counter() - t0,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    atomic_write_json(out_dir / RECORD, record)
    return metrics


def collect(runs_dir: str | Path) -> list[dict[str, Any]]:
    """Every `table2.json` under `runs_dir`, newest per (dataset, kernel), sorted by both."""
    root = Path(runs_dir)
    files = sorted(root.rglob(RECORD), key=lambda p: p.stat().st_mtime) if root.is_dir() else []
    newest: dict[tuple[str, str], dict] = {}
    for f in files:
        rec = read_checked(f, check=lambda d: require_keys(d, ("dataset", "kernel")), keep=True)
        if rec is None:
            continue
        newest[(rec["dataset"], rec["kernel"])] = {**rec, "run_dir": str(f.parent)}
    return [newest[k] for k in sorted(newest)]


def table(records: list[dict[str, Any]]) -> tuple[str, dict[str, dict[str, float]]]:
    """Markdown table dataset x kernel (test/mse for regression, test/auc otherwise) and the
    same values as {dataset: {kernel: value}}."""
    kernels = sorted({r["kernel"] for r in records})
    values: dict[str, dict[str, float]] = {}
    metric: dict[str, str] = {}
    for r in records:
        key = "test/mse" if r["task"] == "regression" else "test/auc"
        metric[r["dataset"]] = key
        if key in r["metrics"]:
            values.setdefault(r["dataset"], {})[r["kernel"]] = float(r["metrics"][key])
    lines = ["| dataset | metric | " + " | ".join(kernels) + " |",
             "|---|---|" + "---|" * len(kernels)]  # fmt: skip
    for ds in sorted(metric):
        cells = [f"{values.get(ds, {})[k]:.4f}" if k in values.get(ds, {}) else "—"
                 for k in kernels]  # fmt: skip
        lines.append(f"| {ds} | {metric[ds]} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n", values


def summarize(cfg: DictConfig, runs_dir: str) -> dict[str, float]:
    """`evaluate.py task=table2`: print and write `table2.md` / `table2_summary.json`."""
    records = collect(runs_dir)
    if not records:
        raise FileNotFoundError(
            f"no {RECORD} records under {runs_dir}; produce them with `python train.py "
            "experiment=table2 data=<msd|susy|higgs> model=<h_laplace|ntk|...>` (or "
            "-m experiment=table2_sweep), or point task.runs_dir at their folder"
        )
    md, values = table(records)
    out = Path(cfg.paths.output_dir)
    atomic_write_text(out / "table2.md", md)
    atomic_write_json(out / "table2_summary.json", {"table": values, "runs": [
        {k: r[k] for k in ("dataset", "kernel", "selected", "n_train", "run_dir")}
        for r in records]})  # fmt: skip
    print(md, flush=True)
    return {f"table2/{ds}/{k}": v for ds, row in values.items() for k, v in row.items()}

"""One row of the CIFAR-10 Table 3 study (`python train.py -m experiment=cifar_table3`).

Split (the data config): train = the first `data.subset` (2000) training images, validation =
the `data.val_size` (1000) training images after them (images 2000-2999; every choice is made
there, never on the test set), test = all 10 000 test images.

Kernel rows (any `KernelModule` model: cntk, cexp_*, ntk, laplace, ...): for every point of
`grid` (kernel parameters) the Gram matrices K(train, train) and K(val, train) are built through
the tiled cache (`nvk.kernels.gram`, `dtype` tiles, float64 solve), and exact KRR on centred
one-hot targets (Arora et al. 2019) is fitted for every ridge r·mean(diag K) of `ridges`; the
first best validation accuracy (grid order, then ridge order) is chosen and only its
K(test, train) is built. Finished selection points are saved as they finish, so a killed job
resumes. Network rows (cnn, mlp): one run of `nvk.run.train` per value of the grid (e.g.
widths), each recorded as its own row `<model>_<param><value>`.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import itertools
import json
import logging
import platform
import resource
import time
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, open_dict

from nvk.kernels import kernel_config
from nvk.kernels.gram import gram
from nvk.solvers.krr import krr_fit, select_ridge_val
from nvk.solvers.memory import check_gram_memory, gram_bytes
from nvk.solvers.targets import encode_targets
from nvk.studies.cifar.records import (
    acc,
    done_record,
    load_partial,
    save_partial,
    spec_hash,
    wilson,
    write_record,
)
from nvk.studies.common import config_kernel, model_spec, plain
from nvk.utils.provenance import git_state, package_versions

log = logging.getLogger("nvk.studies")


def grid_points(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination of `grid` ({name: values}), in the grid's key order."""
    names = list(grid)
    return [dict(zip(names, v)) for v in itertools.product(*(list(grid[k]) for k in names))]


def _usage() -> dict[str, float]:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return {"cpu_s": ru.ru_utime + ru.ru_stime, "peak_rss_mib": ru.ru_maxrss / 1024}


def _sidecar(t0: float, u0: dict[str, float], **extra: Any) -> dict[str, Any]:
    """What a rerun would not reproduce: time, CPU time, memory, host, versions."""
    u1 = _usage()
    return {"seconds": {"total": time.perf_counter() - t0, **extra.pop("seconds", {})},
            "cpu_seconds": u1["cpu_s"] - u0["cpu_s"], "peak_rss_mib": u1["peak_rss_mib"],
            "threads": torch.get_num_threads(),
            "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "host": platform.node(), "git": git_state(), "packages": package_versions(),
            **extra}  # fmt: skip


def _result(row: str, kind: str, spec: dict, best: dict, val_acc: float, correct: int, n: int):
    """The record of a finished row (only what a rerun reproduces)."""
    return {"row": row, "kind": kind, "spec": spec, "spec_hash": spec_hash(spec), "best": best,
            "val_acc": acc(val_acc), "test_acc": acc(correct / n), "test_correct": correct,
            "n_test": n, "test_ci95": wilson(correct, n)}  # fmt: skip


def copy_hash(datamodule: Any) -> str:
    """sha256 (16 hex digits) of the md5 values of the data set's files: which copy of
    CIFAR-10 (the official archive and the shared rebuilt copy differ). Files, not tensors:
    standardized pixels may differ in the last bit between machines."""
    from torchvision.datasets.utils import calculate_md5

    root = Path(datamodule.root)
    folder = root / "cifar-10-batches-py" if (root / "cifar-10-batches-py").is_dir() else root
    md5 = [calculate_md5(str(f)) for f in sorted(folder.iterdir()) if f.is_file()]
    return hashlib.sha256("|".join(md5).encode()).hexdigest()[:16]


TRAINER_KEYS = ("max_epochs", "precision", "gradient_clip_val", "accumulate_grad_batches",
                "deterministic")  # what changes a network row's result  # fmt: skip


def kernel_spec(cfg: DictConfig, info: Any) -> dict[str, Any]:
    """The kernel part of a kernel row's spec: its kernel config; for an arch whose kernel is a
    fused nvk kernel (the ReLU MLP's fc_ntk), that kernel's config (`kernel_config`), which is
    what the row recorded when model=ntk named conf/kernel/fc_ntk.yaml; else the arch and get."""
    if cfg.get("kernel") is not None:
        return plain(cfg.kernel)
    kern = config_kernel(cfg, info)
    if isinstance(kern, functools.partial):
        return kernel_config(kern)
    return {"arch": plain(cfg.arch), "get": cfg.model.get("get", "ntk")}


def row_task(
    cfg: DictConfig,
    *,
    records_dir: str,
    row: str,
    grids: dict[str, dict[str, list[Any]]] | None = None,
    ridges: list[float] | None = None,
    dtype: str = "float32",
    tile: int = 500,
    gram_cache: str | None = None,
) -> dict[str, float]:
    """`task=cifar_row`: the row `row` (the model's name) on `cfg.data`, trying `grids[row]`;
    returns {cifar/val_acc, cifar/test_acc} of the (last) row written."""
    grid = (plain(grids) or {}).get(row) or {}
    options = (cfg.model, cfg.get("kernel") or {}, cfg.get("arch") or {})
    unknown = [k for k in grid if not any(k in o for o in options)]
    if unknown:
        raise ValueError(f"task.grids.{row} names {unknown}: not options of model={row}")
    datamodule = instantiate(cfg.data)
    datamodule.setup()
    data_spec = {k: plain(cfg.data.get(k)) for k in ("subset", "val_size", "test_subset",
                                                     "standardize")}  # fmt: skip
    dhash = copy_hash(datamodule)
    if str(cfg.model._target_).endswith("KernelModule"):
        if not ridges:
            raise ValueError("task.ridges is empty: give at least one relative ridge")
        kernel = kernel_spec(cfg, datamodule.info)
        spec = {"row": row, "kernel": kernel, "grid": grid, "ridges": list(ridges),
                "dtype": dtype, "tile": tile, "data": data_spec, "targets": "centered"}  # fmt: skip
        return _kernel_row(cfg, datamodule, spec, records_dir, gram_cache, dhash)
    n_test = len(datamodule.full_batch().y_test)
    data_spec["batch_size"] = plain(cfg.data.get("batch_size"))
    return _network_rows(cfg, grid, data_spec, row, records_dir, n_test, dhash)


def _kernel_row(
    cfg: DictConfig,
    datamodule: Any,
    spec: dict[str, Any],
    records_dir: str,
    cache: str | None,
    dhash: str,
) -> dict[str, float]:
    row = spec["row"]
    done = done_record(records_dir, row, spec, dhash)
    if done is not None:
        log.info("cifar: %s already done (test acc %.4f)", row, done["test_acc"])
        return {"cifar/val_acc": done["val_acc"], "cifar/test_acc": done["test_acc"]}
    data, info = datamodule.full_batch(), datamodule.info
    # K(train, train) in float64, its factor and a tile-dtype copy, then K(test, train) in
    # float64 and the tile dtype: refuse now, before any kernel value, if they cannot fit
    n_tr, n_te = len(data.x_train), max(len(data.x_val), len(data.x_test))
    check_gram_memory(n_tr, copies=2.5, extra=gram_bytes(n_te, n_tr, torch.float64, 1.5))
    Y = encode_targets(data.y_train, task=info.task, num_classes=info.num_outputs,
                       encoding="centered")  # fmt: skip
    dt = getattr(torch, spec["dtype"])
    t0, u0 = time.perf_counter(), _usage()
    points = load_partial(records_dir, row, spec)
    finished = {json.dumps(p["point"], sort_keys=True) for p in points}

    def val_accuracy(pred: torch.Tensor) -> float:
        return acc(pred.argmax(1).eq(data.y_val).double().mean())

    def grams(point: dict[str, Any], *xs: torch.Tensor) -> list[torch.Tensor]:
        kern = config_kernel(cfg, info, **point)
        kw = {"tile": spec["tile"], "dtype": dt, "cache_dir": cache, "progress": True}
        return [gram(kern, x, data.x_train, **kw).double() if x is not data.x_train
                else gram(kern, x, **kw).double() for x in xs]  # fmt: skip

    for point in grid_points(spec["grid"]):
        if json.dumps(point, sort_keys=True) in finished:
            continue
        ts = time.perf_counter()
        Ktt = Kvt = None  # the previous point's matrices, freed before the next are built
        Ktt, Kvt = grams(point, data.x_train, data.x_val)
        scale = float(Ktt.diagonal().mean())
        lams = [r * scale for r in spec["ridges"]]
        _, val = select_ridge_val(Ktt, Y, Kvt, val_accuracy, lams)
        points.append({"point": point, "val_accs": val, "seconds": time.perf_counter() - ts})
        save_partial(records_dir, row, spec, points)
        log.info("cifar: %s %s val acc by ridge %s", row, point, val)
    order = {json.dumps(p, sort_keys=True): i for i, p in enumerate(grid_points(spec["grid"]))}
    points.sort(key=lambda p: order[json.dumps(p["point"], sort_keys=True)])  # grid order
    flat = [(v, p["point"], r) for p in points for v, r in zip(p["val_accs"], spec["ridges"])]
    best_val, point, rel = max(flat, key=lambda t: t[0])  # the first best: grid, then ridge order
    t1 = time.perf_counter()
    Ktt = Kvt = None
    Ktt, Kte = grams(point, data.x_train, data.x_test)
    alpha = krr_fit(Ktt, Y, ridge=rel * float(Ktt.diagonal().mean())).alpha
    correct = int((Kte @ alpha).argmax(1).eq(data.y_test).sum())
    n = len(data.y_test)
    record = _result(row, "kernel", spec, {**point, "ridge": rel}, best_val, correct, n)
    record["data_hash"] = dhash
    record["selection"] = [{"point": p["point"], "val_accs": p["val_accs"]} for p in points]
    seconds = {"selection": t1 - t0, "test": time.perf_counter() - t1}
    path = write_record(records_dir, record, _sidecar(t0, u0, seconds=seconds, points=points))
    print(f"[nvk] cifar {row}: val_acc={best_val:.4f} test_acc={record['test_acc']:.4f} "
          f"best={record['best']} record={path}", flush=True)  # fmt: skip
    return {"cifar/val_acc": best_val, "cifar/test_acc": record["test_acc"]}


def _network_rows(
    cfg: DictConfig,
    grid: dict[str, list[Any]],
    data_spec: dict,
    model: str,
    records_dir: str,
    n_test: int,
    dhash: str,
) -> dict[str, float]:
    from nvk.run import train

    out: dict[str, float] = {}
    points = grid_points(grid) or [{}]
    for point in points:
        row = model + "".join(f"_{k}{v}" for k, v in point.items())
        run_cfg = copy.deepcopy(cfg)
        with open_dict(run_cfg):
            for k, v in point.items():
                run_cfg.model[k] = v
            run_cfg.paths.output_dir = str(Path(cfg.paths.output_dir) / row)
        trainer = {k: plain(run_cfg.trainer.get(k)) for k in TRAINER_KEYS}  # not its paths
        spec = {"row": row, "model": model_spec(run_cfg.model), "trainer": trainer,
                "data": data_spec, "seed": plain(cfg.get("seed"))}  # fmt: skip
        done = done_record(records_dir, row, spec, dhash)
        if done is None:
            t0, u0 = time.perf_counter(), _usage()
            m = train(run_cfg)
            correct = round(m["test/acc"] * n_test)
            done = _result(row, "network", spec, point, m["val/acc"], correct, n_test)
            done["data_hash"] = dhash
            write_record(records_dir, done, _sidecar(t0, u0, run_dir=run_cfg.paths.output_dir))
            print(f"[nvk] cifar {row}: val_acc={done['val_acc']:.4f} "
                  f"test_acc={done['test_acc']:.4f}", flush=True)  # fmt: skip
        out = {"cifar/val_acc": done["val_acc"], "cifar/test_acc": done["test_acc"]}
    return out

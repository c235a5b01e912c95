"""The protocol of Arora et al. (ICLR 2020), as used by Geifman et al. (NeurIPS 2020, Table 1).

For one dataset and one classifier:

1. every setting (in the classifier's tie-break order) is fitted on line 1 of `conxuntos.dat`
   and scored on line 2; the first setting with the highest validation accuracy wins
   (Arora et al.: `if acc > best_acc`, loops depth → frozen layers → C);
2. with that setting, fit on each `conxuntos_kfold.dat` train line and score its test line;
   the reported accuracy is the mean over the four folds.

Solver caps: a classifier with a `max_iter` (KernelSVC: libsvm's iteration cap) records it in the
cell's record with the list of fits that reached it (`capped_fits`: split, setting index,
iterations); per-fit seconds and iterations go to the sidecar (the cost model of docs/uci.md).
A record with capped fits counts as done only for a run with the same cap.

The fold test rows overlap the validation rows of step 1 (both cover the whole dataset), as in
the original protocol; docs/uci.md discusses what that means for the numbers.

`cell_task` is what `python train.py -m experiment=uci_table1` runs per (dataset, classifier).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import logging
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
from hydra.utils import instantiate
from omegaconf import DictConfig

from nvk.data.uci import UCIDataset
from nvk.studies.uci.classifiers import Classifier
from nvk.studies.uci.records import (
    RECORD_VERSION,
    acc,
    existing_record,
    record_path,
    spec_hash,
    write_record,
)
from nvk.utils.provenance import git_state, package_versions

log = logging.getLogger("nvk")


def data_hash(data: UCIDataset) -> str:
    """sha256 (16 hex digits) of the rows, labels and the five index sets."""
    h = hashlib.sha256()
    sets = data.index_sets
    parts = [data.x, data.y, sets.tune_train, sets.tune_val, *(t for f in sets.folds for t in f)]
    for t in parts:
        h.update(f"{tuple(t.shape)}{t.dtype}".encode())
        h.update(t.contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def run_cell(
    data: UCIDataset,
    clf: Classifier,
    records_dir: str | Path,
    *,
    gram_cache: str | Path | None = None,
) -> dict[str, Any]:
    """Run (or, if its record exists, load) one (dataset, classifier) cell; return the record."""
    spec = clf.spec()
    name = data.meta.name
    dhash = data_hash(data)
    cap = getattr(clf, "max_iter", None)
    done = existing_record(records_dir, clf.name, name, spec, dhash)
    path = record_path(records_dir, clf.name, name)
    if done is not None and done.get("capped_fits") and done.get("max_iter") != cap:
        log.info("uci: %s has %d fits capped at max_iter=%s; recomputing with max_iter=%s",
                 path, len(done["capped_fits"]), done.get("max_iter"), cap)  # fmt: skip
    elif done is not None:
        log.info("uci: %s / %s already done (%s)", clf.name, name, path)
        return done
    clf.cache_dir = str(gram_cache) if gram_cache is not None else None
    sets = data.index_sets
    settings = clf.settings()
    fits: list[dict[str, Any]] = []

    def score(split: str, index: int, train, test) -> float:
        clf.fit_info = None
        a = acc(clf.accuracy(data, settings[index], train, test))
        fits.append({"split": split, "index": index, **(clf.fit_info or {})})
        return a

    t0 = time.perf_counter()
    val = [score("tune", i, sets.tune_train, sets.tune_val) for i in range(len(settings))]
    best = int(np.argmax(val))  # first maximum: the loop order breaks ties
    t1 = time.perf_counter()
    folds = [score(f"fold{f}", best, tr, te) for f, (tr, te) in enumerate(sets.folds)]
    t2 = time.perf_counter()
    record = {
        "version": RECORD_VERSION,
        "dataset": name,
        "classifier": clf.name,
        "n_rows": int(data.meta.n_rows),
        "n_features": int(data.meta.n_features),
        "n_classes": int(data.meta.n_classes),
        "data_hash": dhash,
        "spec": spec,
        "spec_hash": spec_hash(spec),
        "settings": settings,
        "val_accs": val,
        "best_index": best,
        "best": settings[best],
        "val_acc": val[best],
        "fold_accs": folds,
        "test_acc": acc(np.mean(folds)),
    }
    if cap is not None:  # iteration counts are deterministic: the record may hold them
        record["max_iter"] = cap
        record["capped_fits"] = [
            {"split": f["split"], "index": f["index"], "n_iter": f["n_iter"]}
            for f in fits if f.get("capped")
        ]  # fmt: skip
    sidecar = {
        "seconds": {"tune": t1 - t0, "folds": t2 - t1, "total": t2 - t0},
        "n_settings": len(settings),
        "fits": fits,
        "finished": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "git": git_state(),
        "packages": package_versions(),
    }
    write_record(records_dir, record, sidecar)
    capped = len(record.get("capped_fits", []))
    log.info("uci: %s / %s val %.4f test %.4f (%.1fs%s)", clf.name, name, val[best],
             record["test_acc"], t2 - t0, f", {capped} fits capped" if capped else "")  # fmt: skip
    return record


def cell_task(
    cfg: DictConfig, *, records_dir: str, gram_cache: str | None = None
) -> dict[str, float]:
    """`task=uci_cell`: the dataset `cfg.data` (a UCIDataModule) × the classifier
    `cfg.uci_classifier`; writes the record, returns {uci/val_acc, uci/test_acc}."""
    if cfg.get("uci_classifier") is None:
        raise ValueError(
            "task=uci_cell needs a classifier: uci_classifier=<name> (one of conf/uci_classifier/"
            "*.yaml), e.g. via experiment=uci_table1"
        )
    datamodule = instantiate(cfg.data)
    if not hasattr(type(datamodule), "index_sets"):
        raise ValueError(
            f"task=uci_cell needs data=uci (official UCI splits), got {cfg.data._target_}"
        )
    clf = instantiate(cfg.uci_classifier, _convert_="all")
    rec = run_cell(datamodule.dataset, clf, records_dir, gram_cache=gram_cache)
    path = record_path(records_dir, clf.name, rec["dataset"])
    print(f"[nvk] uci {clf.name} / {rec['dataset']}: val_acc={rec['val_acc']:.4f} "
          f"test_acc={rec['test_acc']:.4f}  record={path}", flush=True)  # fmt: skip
    return {"uci/val_acc": rec["val_acc"], "uci/test_acc": rec["test_acc"]}

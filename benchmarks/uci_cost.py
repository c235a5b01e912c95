"""UCI protocol cost per dataset: Gram time per kernel setting, SVC time per fit, and the
extrapolated cost of one (dataset, classifier) cell, on real UCI datasets of different n.

    .venv/bin/python benchmarks/uci_cost.py [--uci-dir DIR] [--datasets iris contrac ...]

For each dataset and each of the NTK (depth 5, the most expensive setting; Arora et al.'s
normalization) and H-Laplace kernels: the Gram matrix over all n rows (`nvk.kernels.gram`,
float64), then `SVC(kernel="precomputed")` on the tuning split (fit on line 1, predict line 2)
for every C of the grid. The cell estimate is what `nvk.studies.uci.protocol.run_cell` does:
(#kernel settings) × Gram + (#settings) × mean SVC time + 4 folds × mean SVC time at 3/4 n.
The reference is the measured Gram time: SVC time / Gram time says which part dominates.
"""

from __future__ import annotations

import argparse
import functools
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf

from nvk.data.uci import load_uci
from nvk.kernels import fc_ntk, gram, h_laplace
from nvk.solvers.svc import SVCOptions, svc_fit

ROOT = Path(__file__).resolve().parents[1]
C_GRID = list(OmegaConf.load(ROOT / "conf" / "uci_classifier" / "base" / "kernel_svc.yaml").C)
KERNELS = {  # name: (kernel of one setting, number of kernel settings in the grid, scale)
    "ntk_L5": (functools.partial(fc_ntk, depth=5, sigma_w=1.0), 15, "dim"),
    "h_laplace": (functools.partial(h_laplace, c=1.5), 10, None),
}


def svc_seconds(G: torch.Tensor, y: torch.Tensor, tr: torch.Tensor, te: torch.Tensor) -> list:
    out = []
    for C in C_GRID:
        t = time.perf_counter()
        clf = svc_fit(G[tr][:, tr], y[tr], SVCOptions(C=C))
        clf.predict(G[te][:, tr].numpy())
        out.append(time.perf_counter() - t)
    return out


def measure(root: str, name: str) -> list[dict]:
    data = load_uci(root, name)
    x = data.x.double()
    sets = data.index_sets
    rows = []
    for kname, (k, n_kernel, scale) in KERNELS.items():
        t = time.perf_counter()
        G = gram(k, x)
        if scale == "dim":
            G.mul_(x.shape[1])
        t_gram = time.perf_counter() - t
        svc = svc_seconds(G, data.y, sets.tune_train, sets.tune_val)
        fold_tr, fold_te = sets.folds[0]
        t = time.perf_counter()
        clf = svc_fit(G[fold_tr][:, fold_tr], data.y[fold_tr], SVCOptions(C=1.0))
        clf.predict(G[fold_te][:, fold_tr].numpy())
        t_fold = time.perf_counter() - t
        n_settings = n_kernel * len(C_GRID)
        cell = n_kernel * t_gram + n_settings * float(np.mean(svc)) + 4 * t_fold
        rows.append({
            "dataset": name, "n": data.meta.n_rows, "d": data.meta.n_features,
            "classes": data.meta.n_classes, "kernel": kname, "gram_s": t_gram,
            "svc_mean_s": float(np.mean(svc)), "svc_max_s": float(np.max(svc)),
            "fold_svc_s": t_fold, "cell_estimate_s": cell,
        })  # fmt: skip
        print(f"{name:28s} n={data.meta.n_rows:5d} d={data.meta.n_features:3d} "
              f"k={data.meta.n_classes:2d} {kname:10s} gram {t_gram:7.3f}s  svc mean "
              f"{np.mean(svc):7.3f}s max {np.max(svc):7.3f}s  cell ≈ {cell:8.1f}s",
              flush=True)  # fmt: skip
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--uci-dir", default=str(ROOT.parent / "shared" / "data" / "uci"))
    p.add_argument("--datasets", nargs="+",
                   default=["iris", "contrac", "cardiotocography-10clases", "spambase",
                            "waveform"])  # fmt: skip
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "uci_cost.json"))
    a = p.parse_args()
    rows = [r for name in a.datasets for r in measure(a.uci_dir, name)]
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"threads": torch.get_num_threads(), "platform": platform.platform(),
            "C_grid": C_GRID}  # fmt: skip
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

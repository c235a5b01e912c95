"""Tiny files in the three real large-scale formats (comma separated, no header, target first).

MillionSongs: `YearPredictionMSD.txt`, year (integer) then 90 features; SUSY: `SUSY.csv.gz`
(gzipped, as downloaded), label written `1.000000000000000000e+00` then 18 features; HIGGS:
`HIGGS.csv`, the same with 28 features. Labels and years follow a known rule of the first
features, so a fitted model can be checked against it.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

FILES = {"msd": ("YearPredictionMSD.txt", 90), "susy": ("SUSY.csv.gz", 18),
         "higgs": ("HIGGS.csv", 28)}  # fmt: skip


def rows(name: str, n: int, seed: int = 0) -> np.ndarray:
    """(n, 1 + D) float64: target then features. MSD year = 2000 + 6 x0 - 4 x1 + noise
    (integer); SUSY/HIGGS label = 1[x0 + x1 x2 + 0.3 noise > 0]."""
    d = FILES[name][1]
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) * rng.uniform(0.5, 3.0, size=d) + rng.normal(size=d)
    z = (x - x.mean(0)) / x.std(0)
    if name == "msd":
        t = np.round(2000 + 6 * z[:, 0] - 4 * z[:, 1] + rng.normal(size=n))
    else:
        t = (z[:, 0] + z[:, 1] * z[:, 2] + 0.3 * rng.normal(size=n) > 0).astype(np.float64)
    return np.column_stack([t, x])


def write(folder: Path, name: str, n: int, seed: int = 0) -> tuple[Path, np.ndarray]:
    """Write `n` rows of dataset `name` in its file format into `folder`; return (path, rows)
    with the rows as the file holds them (what a reader must give back)."""
    fname, _ = FILES[name]
    a = rows(name, n, seed)
    if name == "msd":
        lines = [f"{int(r[0])}," + ",".join(f"{v:.8g}" for v in r[1:]) for r in a]
    else:
        lines = [",".join(f"{v:.18e}" for v in r) for r in a]
    text = "\n".join(lines) + "\n"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / fname
    if fname.endswith(".gz"):
        with gzip.open(path, "wt") as f:
            f.write(text)
    else:
        path.write_text(text)
    return path, np.loadtxt(path, delimiter=",").astype(np.float32)

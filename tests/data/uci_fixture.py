"""Write datasets in the UCI 121-collection format (for tests that must not need the real one)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_uci_dataset(
    root: Path,
    name: str,
    x: np.ndarray,
    y: np.ndarray,
    tune: tuple[np.ndarray, np.ndarray],
    folds: list[tuple[np.ndarray, np.ndarray]],
    *,
    n_classes: int | None = None,
    test_rows: int | None = None,
) -> Path:
    """One folder `<root>/<name>/` with metadata, data file and both index files."""
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    n, d = x.shape
    meta = [
        f"n_entradas= {d}",
        f"n_clases= {n_classes if n_classes is not None else int(y.max()) + 1}",
        f"fich1= {name}_R.dat",
        f"n_patrons1= {n}",
    ]
    if test_rows is not None:
        meta += [f"fich2= {name}_test_R.dat", f"n_patrons2= {test_rows}"]
    meta += [f"n_patrons_entrena= {len(tune[0])}", f"n_patrons_valida= {len(tune[1])}"]
    (folder / f"{name}.txt").write_text("\n".join(meta) + "\n")
    header = "\t" + "\t".join(f"f{i + 1}" for i in range(d)) + "\tclase"
    rows = [
        "\t".join([str(i + 1), *(repr(float(v)) for v in x[i]), str(int(y[i]))]) for i in range(n)
    ]
    (folder / f"{name}_R.dat").write_text("\n".join([header, *rows]) + "\n")

    def line(idx: np.ndarray) -> str:
        return " ".join(str(int(i)) for i in idx) + " "

    (folder / "conxuntos.dat").write_text(line(tune[0]) + "\n" + line(tune[1]) + "\n")
    (folder / "conxuntos_kfold.dat").write_text(
        "".join(line(tr) + "\n" + line(te) + "\n" for tr, te in folds)
    )
    return folder


def random_uci_dataset(root: Path, name: str, n: int = 60, d: int = 3, k: int = 3, seed: int = 0):
    """A random dataset with a random tuning split and four random folds; returns its arrays."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    y = np.arange(n) % k
    perm = rng.permutation(n)
    tune = (perm[: n // 2], perm[n // 2 :])
    folds = []
    for _ in range(4):
        p = rng.permutation(n)
        folds.append((p[: 3 * n // 4], p[3 * n // 4 :]))
    write_uci_dataset(root, name, x, y, tune, folds)
    return x, y, tune, folds

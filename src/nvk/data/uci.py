"""`data=uci`: the 121-dataset UCI collection (Fernández-Delgado et al., JMLR 2014) with its
official splits, as benchmarked by Arora et al. (ICLR 2020) and Geifman et al. (NeurIPS 2020).

Format of one dataset folder `<root>/<name>/` (see docs/data.md):
`<name>.txt` (`key= value` metadata: n_entradas, n_clases, fich1, n_patrons1, optional fich2,
n_patrons_entrena, n_patrons_valida), the tab-separated data file `fich1` (header `f1 .. fD
clase`, then `row-id f1 .. fD label`), `conxuntos.dat` (tuning split: train line, validation
line) and `conxuntos_kfold.dat` (four train/test line pairs); indices are 0-based rows of
`fich1`. A separate test file `fich2`, where present, is not used by these splits.

Studies that build one Gram matrix per dataset use `load_uci(root, name)` (or the data module's
`all_rows()` / `index_sets()`); training runs use `UCIDataModule`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from nvk.data.base import DataInfo, FullBatch, NVKDataModule
from nvk.data.normalize import check_mode, normalize

BENCHMARK_MAX_ROWS = 5000  # Arora et al.: n_patrons1 <= 5000 and no separate test file
N_FOLDS = 4
HOW_TO_GET = (
    "set paths.uci_dir=<folder> or the environment variable NVK_UCI_DIR; to obtain the "
    "collection run scripts/fetch_uci.sh <folder> (see docs/data.md)"
)


@dataclass(frozen=True)
class UCIMeta:
    """Metadata of one dataset, from `<name>/<name>.txt`."""

    name: str
    n_features: int
    n_classes: int
    n_rows: int
    data_file: str
    test_file: str | None
    n_tune_train: int
    n_tune_val: int


@dataclass(frozen=True)
class UCIIndexSets:
    """The official 0-based row index sets: tuning (train, val) and four (train, test) folds."""

    tune_train: torch.Tensor
    tune_val: torch.Tensor
    folds: tuple[tuple[torch.Tensor, torch.Tensor], ...]


@dataclass(frozen=True)
class UCIDataset:
    """All rows x: (n, D) float64 and labels y: (n,) int64 (as in the file), plus index sets."""

    meta: UCIMeta
    x: torch.Tensor
    y: torch.Tensor
    index_sets: UCIIndexSets


def uci_root(root: str | Path) -> Path:
    """`root` as a Path; FileNotFoundError naming it and how to get the data if it is absent."""
    p = Path(root).expanduser()
    if not p.is_dir():
        raise FileNotFoundError(f"UCI collection not found at {p}; {HOW_TO_GET}")
    return p


def available_datasets(root: str | Path) -> list[str]:
    """Sorted names of the dataset folders under `root` (folders `<name>` with `<name>.txt`)."""
    r = uci_root(root)
    return sorted(p.name for p in r.iterdir() if (p / f"{p.name}.txt").is_file())


def benchmark_datasets(root: str | Path, max_rows: int = BENCHMARK_MAX_ROWS) -> list[str]:
    """The benchmark of Arora et al.: datasets with n_patrons1 ≤ max_rows and no separate test
    file, derived from the metadata files (90 names for the full 121-collection)."""
    out = []
    for name in available_datasets(root):
        meta = read_meta(root, name)
        if meta.n_rows <= max_rows and meta.test_file is None:
            out.append(name)
    return out


def _check_name(root: str | Path, name: str) -> Path:
    folder = uci_root(root) / name
    if not (folder / f"{name}.txt").is_file():
        names = available_datasets(root)
        raise ValueError(
            f"unknown UCI dataset data.name={name!r} under {uci_root(root)}; valid names "
            f"({len(names)}): {', '.join(names)}"
        )
    return folder


def read_meta(root: str | Path, name: str) -> UCIMeta:
    """Parse `<root>/<name>/<name>.txt`; ValueError naming file and line if malformed."""
    path = _check_name(root, name) / f"{name}.txt"
    kv: dict[str, str] = {}
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        if "=" not in line:
            raise ValueError(f"{path}, line {i}: expected 'key= value', got {line!r}")
        k, v = line.split("=", 1)
        kv[k.strip()] = v.strip()

    def get_int(key: str) -> int:
        if key not in kv:
            raise ValueError(f"{path}: missing key {key!r}")
        try:
            return int(kv[key])
        except ValueError:
            raise ValueError(f"{path}: {key}= {kv[key]!r} is not an integer") from None

    if "fich1" not in kv:
        raise ValueError(f"{path}: missing key 'fich1'")
    return UCIMeta(
        name=name,
        n_features=get_int("n_entradas"),
        n_classes=get_int("n_clases"),
        n_rows=get_int("n_patrons1"),
        data_file=kv["fich1"],
        test_file=kv.get("fich2"),
        n_tune_train=get_int("n_patrons_entrena"),
        n_tune_val=get_int("n_patrons_valida"),
    )


def read_rows(path: Path, meta: UCIMeta) -> tuple[np.ndarray, np.ndarray]:
    """Parse a data file: x (n, D) float64, y (n,) int64; errors name file and line."""
    lines = path.read_text().splitlines()
    if not lines:
        raise ValueError(f"{path}: empty file")
    d = meta.n_features
    header = lines[0].split()
    if len(header) != d + 1:
        raise ValueError(
            f"{path}, line 1: header has {len(header)} column names, expected {d + 1} "
            f"(f1..f{d} clase; n_entradas= {d})"
        )
    rows = [line.split("\t") for line in lines[1:] if line.strip()]
    for i, r in enumerate(rows):
        if len(r) != d + 2:
            raise ValueError(
                f"{path}, line {i + 2}: {len(r)} tab-separated columns, expected {d + 2} "
                f"(row id, {d} features, label)"
            )
    if len(rows) != meta.n_rows:
        raise ValueError(f"{path}: {len(rows)} data rows, but n_patrons1= {meta.n_rows}")
    try:
        table = np.array(rows, dtype=np.float64)
    except ValueError:
        for i, r in enumerate(rows):
            for v in r:
                try:
                    float(v)
                except ValueError:
                    raise ValueError(f"{path}, line {i + 2}: non-numeric value {v!r}") from None
        raise
    y = table[:, -1]
    bad = np.flatnonzero((y != np.round(y)) | (y < 0) | (y >= meta.n_classes))
    if len(bad):
        raise ValueError(
            f"{path}, line {bad[0] + 2}: label {rows[bad[0]][-1]!r} is not a class id in "
            f"0..{meta.n_classes - 1} (n_clases= {meta.n_classes})"
        )
    return table[:, 1:-1], y.astype(np.int64)


def read_index_file(path: Path, n_rows: int, n_lines: int) -> list[np.ndarray]:
    """Parse an index file: `n_lines` lines of 0-based row indices in [0, n_rows)."""
    if not path.is_file():
        raise FileNotFoundError(f"index file {path} is missing")
    lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
    if len(lines) != n_lines:
        raise ValueError(f"{path}: {len(lines)} non-empty lines, expected {n_lines}")
    out = []
    for i, line in enumerate(lines, 1):
        try:
            idx = np.array(line.split(), dtype=np.int64)
        except ValueError:
            raise ValueError(f"{path}, line {i}: indices must be integers") from None
        bad = idx[(idx < 0) | (idx >= n_rows)]
        if len(bad):
            raise ValueError(
                f"{path}, line {i}: index {int(bad[0])} out of range for {n_rows} rows (0-based)"
            )
        if len(np.unique(idx)) != len(idx):
            raise ValueError(f"{path}, line {i}: repeated row indices")
        out.append(idx)
    return out


def load_uci(root: str | Path, name: str) -> UCIDataset:
    """Read one dataset: all `fich1` rows and the five official index sets."""
    meta = read_meta(root, name)
    folder = uci_root(root) / name
    x, y = read_rows(folder / meta.data_file, meta)
    tune = read_index_file(folder / "conxuntos.dat", meta.n_rows, 2)
    for part, expect, line in ((tune[0], meta.n_tune_train, 1), (tune[1], meta.n_tune_val, 2)):
        if len(part) != expect:
            raise ValueError(
                f"{folder / 'conxuntos.dat'}, line {line}: {len(part)} indices, but the metadata "
                f"says {expect}"
            )
    kf = read_index_file(folder / "conxuntos_kfold.dat", meta.n_rows, 2 * N_FOLDS)
    t = torch.from_numpy
    sets = UCIIndexSets(
        tune_train=t(tune[0]),
        tune_val=t(tune[1]),
        folds=tuple((t(kf[2 * i]), t(kf[2 * i + 1])) for i in range(N_FOLDS)),
    )
    return UCIDataset(meta=meta, x=t(x), y=t(y), index_sets=sets)


class UCIDataModule(NVKDataModule):
    """One UCI dataset on one official split.

    What train / val / test are:

    * `split="tune"` (`conxuntos.dat`): train = line 1, val = test = line 2. The tuning split
      has no held-out test part; its "test" metrics are the tuning score that the protocol
      uses to pick hyperparameters.
    * `split="fold"`, `fold=f` (`conxuntos_kfold.dat`, f = 0..3): test = the fold's test line.
      With `val_fraction > 0` (default 0.1) a seeded, stratified (when every class allows)
      part of the fold's train line is held out as val and the rest is train, so checkpoint
      selection never sees the test rows. With `val_fraction=0` train = the whole official
      fold train line and val = test (the paper protocol: fixed budget, no selection; pair it
      with `callbacks.model_checkpoint.monitor=null`).

    Features are the file's (already standardized by the collection), then `normalize`
    (fitted on train). `all_rows()` / `index_sets()` give the unnormalized rows and the five
    official index sets for studies that build one Gram matrix per dataset.
    """

    def __init__(
        self,
        *,
        root: str,
        name: str,
        split: str = "tune",
        fold: int = 0,
        val_fraction: float = 0.1,
        normalize: str = "none",
        seed: int = 0,
        batch_size: int = 64,
        num_workers: int = 0,
    ) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers)
        if split not in ("tune", "fold"):
            raise ValueError(f"unknown data.split={split!r}; valid: tune, fold")
        if split == "fold" and fold not in range(N_FOLDS):
            raise ValueError(f"data.fold must be one of 0..{N_FOLDS - 1}, got {fold}")
        if not 0.0 <= val_fraction < 1.0:
            raise ValueError(f"val_fraction must lie in [0, 1), got {val_fraction}")
        self.root, self.name, self.split, self.fold = root, name, split, fold
        self.val_fraction, self.normalize, self.seed = val_fraction, check_mode(normalize), seed
        self._meta: UCIMeta | None = None
        self._dataset: UCIDataset | None = None

    @property
    def meta(self) -> UCIMeta:
        """The dataset's metadata (read on first use: a bad root or name fails here)."""
        if self._meta is None:
            self._meta = read_meta(self.root, self.name)
        return self._meta

    @property
    def info(self) -> DataInfo:
        return DataInfo(
            name=self.name,
            in_shape=(self.meta.n_features,),
            num_outputs=self.meta.n_classes,
            task="classification",
        )

    @property
    def dataset(self) -> UCIDataset:
        if self._dataset is None:
            self._dataset = load_uci(self.root, self.name)
        return self._dataset

    def all_rows(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All `fich1` rows, unnormalized: x (n, D) float64, y (n,) int64."""
        return self.dataset.x, self.dataset.y

    def index_sets(self) -> UCIIndexSets:
        """Tuning train/val and the four (train, test) folds as int64 row indices."""
        return self.dataset.index_sets

    def split_indices(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Row indices (train, val, test) of this module's split (see the class docstring)."""
        sets = self.index_sets()
        if self.split == "tune":
            return sets.tune_train, sets.tune_val, sets.tune_val
        train, test = sets.folds[self.fold]
        if self.val_fraction == 0:
            return train, test, test
        y = self.dataset.y[train].numpy()
        n_val = max(1, round(self.val_fraction * len(train)))
        try:
            tr, va = train_test_split(
                train.numpy(), test_size=n_val, random_state=self.seed, stratify=y
            )
        except ValueError:  # a class too small to stratify: plain seeded split
            tr, va = train_test_split(train.numpy(), test_size=n_val, random_state=self.seed)
        return torch.from_numpy(np.sort(tr)), torch.from_numpy(np.sort(va)), test

    def _load(self) -> FullBatch:
        x, y = self.all_rows()
        tr, va, te = self.split_indices()
        xs = normalize(
            x[tr].numpy(), x[va].numpy(), x[te].numpy(), mode=self.normalize, dataset=self.name
        )
        xt = [torch.from_numpy(a).float() for a in xs]
        return FullBatch(xt[0], y[tr], xt[1], y[va], xt[2], y[te])

"""`data=msd|susy|higgs`: the large-scale benchmarks of FALKON and Geifman et al. (2020, Table 2).

| option  | file (in `root`)              | rows       | columns                  | test (default) |
|---------|-------------------------------|------------|--------------------------|----------------|
| `msd`   | `YearPredictionMSD.txt`       | 515 345    | year, 90 features        | last 51 630    |
| `susy`  | `SUSY.csv` or `SUSY.csv.gz`   | 5 000 000  | label (0/1), 18 features | last 500 000   |
| `higgs` | `HIGGS.csv` or `HIGGS.csv.gz` | 11 000 000 | label (0/1), 28 features | last 500 000   |

Files are comma separated without header, as distributed by the UCI repository (the official
MillionSongs split is the first 463 715 rows for training, the last 51 630 for testing).
They are never downloaded at run time: a missing file raises FileNotFoundError naming the
folder and where to get it.

* The last `n_test` rows are the test split; the rest is the training pool.
* `val_size` rows drawn at random (seeded) from the training pool are the validation split
  (hyperparameters are chosen on it); `subsample` keeps that many of the remaining training rows.
* Features are standardized (or `normalize`d, see `nvk.data.normalize`) with statistics of the
  training rows used; MillionSongs' year is centred by the training mean (`center_target`),
  so `test/mse` is in years².
* Reading is chunked (`chunk_rows`, tqdm progress bar); the parsed float32 array is cached as
  `.npy` in `cache_dir` (keyed by file name, size and modification time) and memory-mapped on
  later runs, so a study that loads a file several times parses it once. A cache that does
  not load or has the wrong dtype/width is set aside (`<name>.damaged-<time>`) and re-parsed.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from nvk.data.base import DataInfo, FullBatch, NVKDataModule, Task
from nvk.data.normalize import check_mode
from nvk.utils.io import DamagedFileError, read_checked

UCI = "https://archive.ics.uci.edu/dataset"


@dataclass(frozen=True)
class FileSpec:
    """One large-scale file format: label/target in the first column, then the features."""

    name: str
    files: tuple[str, ...]  # accepted file names in `root`, first found is used
    columns: int  # target + features
    rows: int  # rows of the official file (progress bar total)
    n_test: int  # default test rows (the file's last rows)
    task: Task
    url: str


MSD = FileSpec("msd", ("YearPredictionMSD.txt", "YearPredictionMSD.txt.gz",
                       "YearPredictionMSD.csv"), 91, 515_345, 51_630, "regression",
               f"{UCI}/203/yearpredictionmsd")  # fmt: skip
SUSY = FileSpec("susy", ("SUSY.csv", "SUSY.csv.gz"), 19, 5_000_000, 500_000, "classification",
                f"{UCI}/279/susy")  # fmt: skip
HIGGS = FileSpec("higgs", ("HIGGS.csv", "HIGGS.csv.gz"), 29, 11_000_000, 500_000,
                 "classification", f"{UCI}/280/higgs")  # fmt: skip
SPECS = {s.name: s for s in (MSD, SUSY, HIGGS)}


def find_file(spec: FileSpec, root: str | os.PathLike, file: str | None = None) -> Path:
    """The data file in `root` (`file` if given, else the first of `spec.files` present)."""
    folder = Path(root).expanduser()
    names = (file,) if file else spec.files
    for name in names:
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(
        f"{spec.name}: none of {list(names)} found in {folder}. Download it from {spec.url} "
        f"(the .gz may stay compressed) into that folder, or point data.root (paths.largescale_dir,"
        f" env NVK_LARGESCALE_DIR) at the folder that holds it"
    )


def read_rows(
    path: Path, spec: FileSpec, *, chunk_rows: int = 250_000, progress: bool = True
) -> np.ndarray:
    """Parse the whole file into float32 (rows, spec.columns), chunk by chunk; malformed lines
    (wrong number of values, non-numbers, empty fields) raise ValueError with the line number."""
    chunks, line = [], 1
    reader = pd.read_csv(path, header=None, names=range(spec.columns), dtype=np.float64,
                         chunksize=chunk_rows, engine="c")  # fmt: skip
    bar = tqdm(total=spec.rows, unit="row", unit_scale=True, desc=f"reading {path.name}",
               disable=not progress)  # fmt: skip
    try:
        for df in reader:
            a = df.to_numpy(dtype=np.float64)
            bad = np.isnan(a).any(axis=1)
            if bad.any():
                raise ValueError(
                    f"{path}: line {line + int(np.flatnonzero(bad)[0])} has fewer than "
                    f"{spec.columns} comma-separated numbers (or an empty field); a {spec.name} "
                    f"file has the {'target' if spec.task == 'regression' else 'label'} then "
                    f"{spec.columns - 1} features per line"
                )
            chunks.append(a.astype(np.float32))
            line += len(a)
            bar.update(len(a))
    except (pd.errors.ParserError, ValueError) as e:
        if str(path) in str(e):
            raise
        raise ValueError(
            f"{path}: not a {spec.name} file ({spec.columns} comma-separated numbers per line, "
            f"no header): {e}"
        ) from e
    finally:
        bar.close()
    if not chunks:
        raise ValueError(f"{path}: the file is empty")
    return np.concatenate(chunks)


def load_rows(
    path: Path,
    spec: FileSpec,
    *,
    cache_dir: str | os.PathLike | None = None,
    chunk_rows: int = 250_000,
    progress: bool = True,
) -> np.ndarray:
    """`read_rows`, through a `.npy` cache (memory-mapped, read-only) when `cache_dir` is set."""
    if cache_dir is None:
        return read_rows(path, spec, chunk_rows=chunk_rows, progress=progress)
    st = path.stat()
    ident = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{spec.columns}"
    cached = Path(cache_dir) / f"{spec.name}-{hashlib.sha256(ident.encode()).hexdigest()[:16]}.npy"
    rows = read_checked(cached, lambda p: np.load(p, mmap_mode="r"), _rows_check(spec))
    if rows is None:  # absent, or damaged and set aside: parse the file (again)
        rows = read_rows(path, spec, chunk_rows=chunk_rows, progress=progress)
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_name(f".{cached.name}.{os.getpid()}.tmp.npy")
        np.save(tmp, rows)
        os.replace(tmp, cached)
    return rows


def _rows_check(spec: FileSpec):
    def check(rows: np.ndarray) -> None:
        if rows.ndim != 2 or rows.shape[1] != spec.columns or rows.dtype != np.float32:
            raise DamagedFileError(
                f"expected float32 rows of {spec.columns} columns, found {rows.dtype} {rows.shape}"
            )

    return check


def _normalize_inplace(train: np.ndarray, others: list[np.ndarray], mode: str) -> None:
    """`nvk.data.normalize` in place on float32 arrays (statistics of `train` in float64)."""
    arrays = [train, *others]
    if mode in ("standardize", "standardize_sphere"):
        mean = train.mean(axis=0, dtype=np.float64)
        std = train.std(axis=0, dtype=np.float64)
        std = np.where(std > 0, std, 1.0)
        for a in arrays:
            a -= mean.astype(np.float32)
            a /= std.astype(np.float32)
    if mode in ("sphere", "standardize_sphere"):
        for a in arrays:
            norms = np.linalg.norm(a, axis=1, keepdims=True)
            if (norms == 0).any():
                raise ValueError("a row of norm 0 cannot be projected onto the sphere")
            a /= norms


class LargeScaleDataModule(NVKDataModule):
    """One of the large-scale files as features (N, D) float32 and labels (N,) int64 (SUSY,
    HIGGS) or centred targets (N,) float32 (MillionSongs). Subclasses set `spec`."""

    spec: FileSpec

    def __init__(
        self,
        *,
        root: str,
        file: str | None = None,
        n_test: int | None = None,
        val_size: int = 10_000,
        subsample: int | None = None,
        normalize: str = "standardize",
        center_target: bool = True,
        cache_dir: str | None = None,
        chunk_rows: int = 250_000,
        progress: bool = True,
        seed: int = 0,
        batch_size: int = 4096,
        num_workers: int = 0,
    ) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers)
        self.name = self.spec.name
        self.root, self.file = str(root), file
        self.n_test = self.spec.n_test if n_test is None else int(n_test)
        self.val_size, self.subsample = int(val_size), subsample
        if self.n_test < 1 or self.val_size < 0 or (subsample is not None and subsample < 1):
            raise ValueError(
                f"{self.name}: need n_test >= 1, val_size >= 0 and subsample >= 1 or null; got "
                f"n_test={self.n_test}, val_size={val_size}, subsample={subsample}"
            )
        if chunk_rows < 1:
            raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
        self.normalize, self.center_target = check_mode(normalize), center_target
        self.cache_dir, self.chunk_rows, self.progress = cache_dir, chunk_rows, progress
        self.seed = seed
        self.target_offset = 0.0  # added back to predictions to get years (MillionSongs)

    @property
    def info(self) -> DataInfo:
        k = 2 if self.spec.task == "classification" else 1
        return DataInfo(self.name, (self.spec.columns - 1,), k, self.spec.task)

    def path(self) -> Path:
        return find_file(self.spec, self.root, self.file)

    def split_indices(self, n_rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Sorted row positions (train, val, test) in a file of n_rows rows."""
        pool = n_rows - self.n_test
        if pool < self.val_size + 1:
            raise ValueError(
                f"{self.name}: the file has {n_rows} rows; n_test={self.n_test} and "
                f"val_size={self.val_size} leave no training rows (need n_test + val_size < rows)"
            )
        perm = np.random.default_rng(self.seed).permutation(pool)
        val, train = perm[: self.val_size], perm[self.val_size :]
        if self.subsample is not None:
            if self.subsample > len(train):
                raise ValueError(
                    f"{self.name}: subsample={self.subsample} exceeds the {len(train)} training "
                    "rows left after the test and validation splits"
                )
            train = train[: self.subsample]
        return np.sort(train), np.sort(val), np.arange(pool, n_rows)

    def _labels(self, t: np.ndarray, path: Path, rows: np.ndarray) -> torch.Tensor:
        if self.spec.task == "regression":
            return torch.from_numpy(np.ascontiguousarray(t, dtype=np.float32))
        bad = (t != 0) & (t != 1)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"{path}: label {float(t[i]):g} on line {int(rows[i]) + 1}; "
                f"{self.name} labels are 0 or 1"
            )
        return torch.from_numpy(t.astype(np.int64))

    def _load(self) -> FullBatch:
        path = self.path()
        rows = load_rows(path, self.spec, cache_dir=self.cache_dir, chunk_rows=self.chunk_rows,
                         progress=self.progress)  # fmt: skip
        tr, va, te = self.split_indices(len(rows))
        parts = [np.array(rows[i], dtype=np.float32) for i in (tr, va, te)]  # copies (mmap)
        x = [p[:, 1:].copy() for p in parts]
        _normalize_inplace(x[0], x[1:], self.normalize)
        y = [self._labels(p[:, 0], path, i) for p, i in zip(parts, (tr, va, te))]
        if self.spec.task == "regression" and self.center_target:
            self.target_offset = float(y[0].double().mean())
            y = [t - self.target_offset for t in y]
        xt = [torch.from_numpy(a) for a in x]
        return FullBatch(xt[0], y[0], xt[1], y[1], xt[2], y[2])


class MSDDataModule(LargeScaleDataModule):
    """`data=msd`: YearPredictionMSD.txt (MillionSongs), regression of the year."""

    spec = MSD


class SUSYDataModule(LargeScaleDataModule):
    """`data=susy`: SUSY.csv(.gz), binary classification."""

    spec = SUSY


class HIGGSDataModule(LargeScaleDataModule):
    """`data=higgs`: HIGGS.csv(.gz), binary classification."""

    spec = HIGGS

"""`data=table`: bring-your-own tabular data from a CSV or Parquet file.

* `label`: the target column (or a list of columns for multi-output regression);
* `task`: `classification`, `regression` or `auto` (classification unless the label column
  is floating point); class labels are mapped to 0..C-1 in sorted order (`classes`);
* `categorical`: columns one-hot encoded (categories from the whole file; missing values get
  no indicator); every other feature column must be numeric;
* `features`: columns to use (default: all but the label and split columns);
* split: a seeded train/val/test split (`val_fraction`, `test_fraction`; stratified for
  classification when every class has enough rows), or `split_column` whose values are
  `train`, `val` and `test`;
* `normalize`: see `nvk.data.normalize` (default `standardize`, fitted on train).
"""

from __future__ import annotations

import gzip
import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from nvk.data.base import DataInfo, FullBatch, NVKDataModule, check_finite
from nvk.data.normalize import check_mode, normalize
from nvk.data.splits import stratified_split

SPLIT_VALUES = ("train", "val", "test")


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a .csv (also .csv.gz, .tsv) or .parquet file with at least one data row.

    Clear errors (naming the file) for a missing, unsupported, binary, non-UTF-8, unparsable
    (naming the line) or empty file.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"table file not found: {p} (set data.path=<file.csv|.parquet>)")
    name = p.name.lower()
    if name.endswith((".parquet", ".pq")):
        try:
            df = pd.read_parquet(p)
        except ImportError as e:
            raise ImportError(f"reading {p} needs a Parquet engine: pip install pyarrow") from e
    elif name.endswith((".csv", ".csv.gz", ".tsv", ".txt")):
        df = _read_csv(p, sep="\t" if name.endswith(".tsv") else ",")
    else:
        raise ValueError(f"{p}: unsupported file type; use .csv, .tsv or .parquet")
    if len(df) == 0:
        raise ValueError(
            f"{p}: no data rows, only the column names {list(df.columns)}; "
            "add one row per example below the header"
        )
    return df


_NOT_TEXT = "save the table as a UTF-8 .csv (or as .parquet)"


def _read_csv(p: Path, sep: str) -> pd.DataFrame:
    """`pd.read_csv` whose errors name the file and, where pandas knows it, the line."""
    if not p.name.lower().endswith(".gz"):
        with open(p, "rb") as f:
            if b"\x00" in f.read(1 << 16):
                raise ValueError(
                    f"{p}: not a text CSV: it holds NUL bytes (a binary file, or UTF-16 "
                    f"text?); {_NOT_TEXT}"
                )
    try:
        return pd.read_csv(p, sep=sep)
    except UnicodeDecodeError as e:
        byte = e.object[e.start] if e.start < len(e.object) else None
        what = f" (byte 0x{byte:02x})" if isinstance(byte, int) else ""
        raise ValueError(
            f"{p}: not a text CSV: it is not UTF-8{what}; a binary file, or text in another "
            f"encoding? {_NOT_TEXT}"
        ) from e
    except pd.errors.EmptyDataError as e:
        raise ValueError(
            f"{p}: the file is empty (no header line, no data rows); a CSV needs a header "
            "line with the column names, then one row per example"
        ) from e
    except pd.errors.ParserError as e:
        msg = str(e).strip().removeprefix("Error tokenizing data. C error: ")
        fields = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", msg)
        quote = re.search(r"EOF inside string starting at row (\d+)", msg)
        if fields:
            want, line, saw = fields.groups()
            raise ValueError(
                f"{p}: line {line} has {saw} fields where {want} were expected (pandas: "
                f"{msg}); fix that line, and quote any value that contains a "
                f"{'tab' if sep == chr(9) else 'comma'}"
            ) from e
        if quote:  # pandas counts rows from 0 with the header as row 0
            line = int(quote.group(1)) + 1
            raise ValueError(
                f'{p}: the quote (") opened on line {line} is never closed (pandas: {msg}); '
                "close it or remove it"
            ) from e
        raise ValueError(f"{p}: cannot parse as CSV (pandas: {msg})") from e
    except gzip.BadGzipFile as e:
        raise ValueError(
            f"{p}: not gzip-compressed ({e}); rename it to .csv if it is plain text"
        ) from e


MIN_ROWS = {"train": 2, "val": 1, "test": 1}  # one train row: standardize zeroes every feature


def seeded_split_sizes(n: int, *, val_fraction: float, test_fraction: float) -> dict[str, int]:
    """Rows per split of `stratified_split` on `n` rows (scikit-learn rounds test sizes up)."""
    test = math.ceil(test_fraction * n)
    rest = n - test
    val = math.ceil(val_fraction / (1.0 - test_fraction) * rest)
    return {"train": rest - val, "val": val, "test": test}


def _fits(n: int, vf: float, tf: float) -> bool:
    sizes = seeded_split_sizes(n, val_fraction=vf, test_fraction=tf)
    return all(sizes[v] >= MIN_ROWS[v] for v in SPLIT_VALUES)


def _sizes(sizes: dict[str, int]) -> str:
    return ", ".join(f"{v} {sizes[v]}" for v in SPLIT_VALUES)


def _need(short: list[str]) -> str:
    return "need " + ", ".join(
        f"at least {MIN_ROWS[v]} {v} row{'s' if MIN_ROWS[v] > 1 else ''}" for v in short
    )


class TableDataModule(NVKDataModule):
    """A user table as float features (N, D) and labels (N,) / targets (N,) or (N, T)."""

    def __init__(
        self,
        *,
        path: str,
        label: str | Sequence[str],
        task: str = "auto",
        categorical: Sequence[str] = (),
        features: Sequence[str] | None = None,
        split_column: str | None = None,
        val_fraction: float = 0.15,
        test_fraction: float = 0.25,
        normalize: str = "standardize",
        seed: int = 0,
        batch_size: int = 64,
        num_workers: int = 0,
    ) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers)
        if task not in ("auto", "classification", "regression"):
            raise ValueError(f"unknown data.task={task!r}; valid: auto, classification, regression")
        self.path = str(path)
        self.name = Path(path).stem
        self.labels = [label] if isinstance(label, str) else list(label)
        self.categorical, self.split_column = list(categorical), split_column
        self.features_arg = None if features is None else list(features)
        self.task_arg = task
        self.val_fraction, self.test_fraction = val_fraction, test_fraction
        self.normalize, self.seed = check_mode(normalize), seed
        self._frame: pd.DataFrame | None = None

    def _prepare(self) -> pd.DataFrame:
        """Read the file and resolve columns, task and classes (once)."""
        if self._frame is None:
            df = read_table(self.path)
            self._features = self._feature_columns(df, self.features_arg)
            self.task = self._resolve_task(df, self.task_arg)
            self.classes: list = []
            if self.task == "classification":
                self.classes = sorted(df[self.labels[0]].dropna().unique().tolist())
                self._check_classes(df)
            self._n_inputs = self._encode(df).shape[1]
            self._frame = df
        return self._frame

    def _feature_columns(self, df: pd.DataFrame, features: Sequence[str] | None) -> list[str]:
        named = [*self.labels, *self.categorical, *list(features or [])]
        if self.split_column:
            named.append(self.split_column)
        missing = [c for c in named if c not in df.columns]
        if missing:
            raise ValueError(
                f"{self.path}: column(s) {missing} not found; columns are {list(df.columns)}"
            )
        skip = {*self.labels, self.split_column}
        cols = list(features) if features else [c for c in df.columns if c not in skip]
        bad = [
            c
            for c in cols
            if c not in self.categorical
            and not (pd.api.types.is_numeric_dtype(df[c]) or pd.api.types.is_bool_dtype(df[c]))
        ]
        if bad:
            raise ValueError(
                f"{self.path}: non-numeric feature column(s) {bad}; list them in "
                "data.categorical to one-hot encode them, or leave them out via data.features"
            )
        if not cols:
            raise ValueError(f"{self.path}: no feature columns left besides the label")
        return cols

    def _resolve_task(self, df: pd.DataFrame, task: str) -> str:
        if task == "auto":
            floating = all(pd.api.types.is_float_dtype(df[c]) for c in self.labels)
            task = "regression" if floating else "classification"
        if task == "classification" and len(self.labels) != 1:
            raise ValueError(f"classification needs one label column, got {self.labels}")
        if task == "regression":
            bad = [c for c in self.labels if not pd.api.types.is_numeric_dtype(df[c])]
            if bad:
                raise ValueError(f"{self.path}: regression target column(s) {bad} not numeric")
        return task

    def _check_classes(self, df: pd.DataFrame) -> None:
        label = self.labels[0]
        if not self.classes:
            raise ValueError(
                f"{self.path}: label column {label!r} has no values (all {len(df)} missing); "
                "fill it in, or choose another column via data.label"
            )
        if len(self.classes) == 1:
            numeric = pd.api.types.is_numeric_dtype(df[label])
            raise ValueError(
                f"{self.path}: label column {label!r} has a single class {self.classes[0]!r} "
                f"(in all {int(df[label].notna().sum())} labelled rows); classification needs "
                "at least two classes: check data.label"
                + (", or set data.task=regression for a numeric target" if numeric else "")
            )

    def _encode(self, df: pd.DataFrame) -> np.ndarray:
        x = df[self._features]
        if self.categorical:
            x = pd.get_dummies(x, columns=self.categorical, dtype=np.float64)
        return x.to_numpy(dtype=np.float64, copy=True)

    @property
    def info(self) -> DataInfo:
        self._prepare()
        k = len(self.classes) if self.task == "classification" else len(self.labels)
        return DataInfo(self.name, (self._n_inputs,), k, self.task)  # type: ignore[arg-type]

    def _targets(self, df: pd.DataFrame) -> torch.Tensor:
        if self.task == "classification":
            col = df[self.labels[0]]
            if col.isna().any():
                row = int(np.flatnonzero(col.isna().to_numpy())[0])
                raise ValueError(f"{self.path}: missing label in data row {row}")
            lookup = {c: i for i, c in enumerate(self.classes)}
            return torch.tensor(col.map(lookup).to_numpy(dtype=np.int64))
        y = df[self.labels].to_numpy(dtype=np.float32, copy=True)
        return torch.from_numpy(y[:, 0] if y.shape[1] == 1 else y)

    def split_indices(self, y: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Row positions (train, val, test)."""
        df = self._prepare()
        if self.split_column:
            s = df[self.split_column].astype(str).str.strip().str.lower()
            bad = ~s.isin(SPLIT_VALUES)
            if bad.any():
                row = int(np.flatnonzero(bad.to_numpy())[0])
                raise ValueError(
                    f"{self.path}: split column {self.split_column!r} has value "
                    f"{df[self.split_column].iloc[row]!r} in data row {row}; "
                    f"expected one of {SPLIT_VALUES}"
                )
            out = tuple(np.flatnonzero((s == v).to_numpy()) for v in SPLIT_VALUES)
            sizes = dict(zip(SPLIT_VALUES, (len(o) for o in out)))
            short = [v for v in SPLIT_VALUES if sizes[v] < MIN_ROWS[v]]
            if short:
                raise ValueError(
                    f"{self.path}: split column {self.split_column!r} gives "
                    f"{_sizes(sizes)} of {len(df)} data rows; {_need(short)}: mark more rows "
                    f"{' / '.join(repr(v) for v in short)}, or drop data.split_column for a "
                    "seeded split (data.val_fraction, data.test_fraction)"
                )
            return out  # type: ignore[return-value]
        self._check_split_sizes(len(y))
        kw = dict(val_fraction=self.val_fraction, test_fraction=self.test_fraction, seed=self.seed)
        if self.task == "classification":
            try:
                return stratified_split(y.numpy(), **kw)  # type: ignore[arg-type]
            except ValueError as e:
                if "fraction" in str(e):
                    raise
        return stratified_split(np.zeros(len(y)), stratify=False, **kw)  # type: ignore[arg-type]

    def _check_split_sizes(self, n: int) -> None:
        """Raise if the seeded split of `n` rows leaves a split below `MIN_ROWS`."""
        vf, tf = self.val_fraction, self.test_fraction
        if not (0.0 < vf < 1.0 and 0.0 < tf < 1.0 and vf + tf < 1.0):
            return  # stratified_split says what is wrong with the fractions
        sizes = seeded_split_sizes(n, val_fraction=vf, test_fraction=tf)
        short = [v for v in SPLIT_VALUES if sizes[v] < MIN_ROWS[v]]
        if not short:
            return
        enough = next((m for m in range(n + 1, n + 100_000) if _fits(m, vf, tf)), None)
        more = f"at least {enough} rows" if enough else "more rows"
        raise ValueError(
            f"{self.path}: {n} data rows are too few for data.val_fraction={vf} and "
            f"data.test_fraction={tf}: the split would give {_sizes(sizes)} rows; "
            f"{_need(short)}: add rows ({more} for these fractions), change "
            "data.val_fraction / data.test_fraction, or give the split via data.split_column"
        )

    def _load(self) -> FullBatch:
        df = self._prepare()
        x = self._encode(df)
        check_finite(torch.from_numpy(x), dataset=self.name, what=f"features of {self.path}")
        y = self._targets(df)
        tr, va, te = self.split_indices(y)
        xs = normalize(x[tr], x[va], x[te], mode=self.normalize, dataset=self.name)
        xt = [torch.from_numpy(a).float() for a in xs]
        return FullBatch(xt[0], y[tr], xt[1], y[va], xt[2], y[te])

"""Records of the CIFAR-10 Table 3 study: one JSON per row, atomic, checked on read, resumable.

Layout under `records_dir`:

    <row>.json            the finished row: spec and its hash, every selection point's validation
                          accuracy, the choice, the test accuracy with its 95 % interval
    _partial/<row>.json   selection points finished so far (a killed job resumes from them)
    _runs/<row>.json      sidecar: seconds, CPU seconds, peak memory, host, git, packages

A record counts as done only for the same spec (grid, ridges, dtype, data split); a damaged file
is set aside and recomputed (`nvk.utils.io.read_checked`).
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

from nvk.utils.io import DamagedFileError, atomic_write_json, read_checked, require_keys

RECORD_VERSION = 1
PARTIAL, RUNS = "_partial", "_runs"
DIGITS = 12


def spec_hash(spec: dict[str, Any]) -> str:
    blob = json.dumps({"version": RECORD_VERSION, "spec": spec}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def acc(x: float) -> float:
    return round(float(x), DIGITS)


def wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion k/n (an accuracy on n test images)."""
    if n <= 0:
        raise ValueError(f"wilson: need n >= 1 test items, got {n}")
    p = k / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return acc(mid - half), acc(mid + half)


def paths(records_dir: str | Path, row: str) -> tuple[Path, Path, Path]:
    """(record, partial selection, sidecar) of `row`."""
    root = Path(records_dir)
    return root / f"{row}.json", root / PARTIAL / f"{row}.json", root / RUNS / f"{row}.json"


def _check(row: str):
    def check(rec: Any) -> None:
        require_keys(rec, ("row", "spec_hash", "val_acc", "test_acc"), "CIFAR-10 record")
        if rec["row"] != row:
            raise DamagedFileError(f"record of row {rec['row']!r}, expected {row!r}")

    return check


def done_record(records_dir: str | Path, row: str, spec: dict[str, Any]) -> dict[str, Any] | None:
    """The finished record of `row` for this spec, or None (absent, damaged: set aside, or
    made with another spec: then it is recomputed and overwritten, with a log line)."""
    rec = read_checked(paths(records_dir, row)[0], check=_check(row))
    return rec if rec is not None and rec["spec_hash"] == spec_hash(spec) else None


def load_partial(records_dir: str | Path, row: str, spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Selection points finished for this spec (empty for another spec or a damaged file)."""
    part = read_checked(paths(records_dir, row)[1], check=lambda d: require_keys(d, ("points",)))
    if part is None or part.get("spec_hash") != spec_hash(spec):
        return []
    return list(part["points"])


def save_partial(
    records_dir: str | Path, row: str, spec: dict[str, Any], points: list[dict[str, Any]]
) -> None:
    atomic_write_json(
        paths(records_dir, row)[1], {"spec_hash": spec_hash(spec), "points": points}, indent=None
    )


def write_record(records_dir: str | Path, record: dict[str, Any], sidecar: dict[str, Any]) -> Path:
    """Sidecar first, then the record (both atomic)."""
    rec_path, _, side_path = paths(records_dir, record["row"])
    atomic_write_json(side_path, sidecar)
    return atomic_write_json(rec_path, record)


def load_records(records_dir: str | Path) -> dict[str, dict[str, Any]]:
    """{row: record} of every finished row (damaged ones are named and skipped)."""
    root = Path(records_dir)
    out = {}
    for path in sorted(root.glob("*.json")):
        rec = read_checked(path, check=_check(path.stem), keep=True)
        if rec is not None:
            side = read_checked(paths(root, path.stem)[2], keep=True) or {}
            out[path.stem] = {**rec, "_sidecar": side}
    if not out:
        raise FileNotFoundError(
            f"no CIFAR-10 Table 3 records under {root}; run `python train.py -m "
            "experiment=cifar_table3` (docs/conv.md) or point task.records_dir at them"
        )
    return out

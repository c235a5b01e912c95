"""Records of the CIFAR-10 Table 3 study: one JSON per row, atomic, checked on read, resumable.

Layout under `records_dir`:

    <row>.json            the finished row: spec and its hash, every selection point's validation
                          accuracy, the choice, the test accuracy with its 95 % interval
    _partial/<row>.json   selection points finished so far (a killed job resumes from them)
    _runs/<row>.json      sidecar: seconds, CPU seconds, peak memory, host, git, packages

A record counts as done for the same spec (grid, ridges, dtype, data split); one made with
another spec or on other images (`data_hash`, outside the spec) is refused with a ValueError,
never overwritten: use another records_dir. A damaged file is set aside and recomputed
(`nvk.utils.io.read_checked`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from nvk.studies import common
from nvk.utils.io import DamagedFileError, atomic_write_json, read_checked, require_keys

RECORD_VERSION = 1
PARTIAL, RUNS = "_partial", "_runs"


def spec_hash(spec: dict[str, Any]) -> str:
    return common.spec_hash(spec, RECORD_VERSION)


acc = common.rounded


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
        require_keys(rec, ("row", "kind", "spec_hash", "val_acc", "test_acc", "n_test",
                           "test_ci95"), "CIFAR-10 record")  # fmt: skip
        if rec["row"] != row:
            raise DamagedFileError(f"record of row {rec['row']!r}, expected {row!r}")

    return check


def _refuse(path: Path, stored: Any, spec: dict[str, Any]) -> None:
    if stored != spec_hash(spec):
        raise ValueError(
            f"{path} was made with another spec (hash {stored!r}, now {spec_hash(spec)!r}: "
            "another grid, ridges, dtype or split); use another task.records_dir, or move that "
            "file away to recompute"
        )


def done_record(
    records_dir: str | Path, row: str, spec: dict[str, Any], data_hash: str | None = None
) -> dict[str, Any] | None:
    """The finished record of `row`, or None (absent, or damaged: set aside). ValueError if it
    was made with another spec or on other images (records without `data_hash` predate it)."""
    path = paths(records_dir, row)[0]
    rec = read_checked(path, check=_check(row))
    if rec is None:
        return None
    _refuse(path, rec["spec_hash"], spec)
    if data_hash is not None and rec.get("data_hash", data_hash) != data_hash:
        raise ValueError(
            f"{path} was computed on other images (data hash {rec['data_hash']!r}, now "
            f"{data_hash!r}: another copy of CIFAR-10?); use another task.records_dir"
        )
    return rec


def load_partial(records_dir: str | Path, row: str, spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Selection points finished for this spec (none if absent or damaged; ValueError if made
    with another spec)."""
    path = paths(records_dir, row)[1]
    part = read_checked(path, check=lambda d: require_keys(d, ("points", "spec_hash")))
    if part is None:
        return []
    _refuse(path, part["spec_hash"], spec)
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

"""One JSON record per (dataset, classifier), deterministic, atomic, skip-if-done.

Layout under `records_dir`:

    <classifier>/<dataset>.json        the record: only values that a rerun reproduces exactly
    _runs/<classifier>/<dataset>.json  sidecar: timings, time of day, git commit, packages

The record holds the dataset's shape and data hash, the classifier's spec and its hash, every
setting's validation accuracy (in settings order), the chosen setting, and the four fold
accuracies; accuracies are rounded to 12 decimals and keys sorted, so a killed and resumed
sweep writes byte-identical records. Anything that changes between runs (wall-clock,
provenance) goes to the sidecar, which is written first: a record's presence means its cell
is done.

Reading back (`existing_record`, `load_records`): a record that does not parse as JSON, lacks a
field, or names another cell than its path is damaged; so is a sidecar that does not parse. At
sweep time the damaged file is moved aside (`<name>.damaged-<time>`, see `nvk.utils.io`) and the
cell is recomputed; the table step skips it with a warning (it cannot recompute).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nvk.studies import common
from nvk.utils.io import DamagedFileError, atomic_write_json, read_checked, require_keys

RECORD_VERSION = 1
RUNS = "_runs"


def spec_hash(spec: dict[str, Any]) -> str:
    """sha256 (16 hex digits) of a classifier spec with the record version."""
    return common.spec_hash(spec, RECORD_VERSION)


def record_path(records_dir: str | Path, classifier: str, dataset: str) -> Path:
    return Path(records_dir) / classifier / f"{dataset}.json"


def sidecar_path(records_dir: str | Path, classifier: str, dataset: str) -> Path:
    return Path(records_dir) / RUNS / classifier / f"{dataset}.json"


acc = common.rounded  # the fixed rounding of every stored accuracy


RECORD_KEYS = ("classifier", "dataset", "spec_hash", "test_acc")  # what resume and tables read


def check_record(classifier: str | None = None, dataset: str | None = None):
    """A `read_checked` check: every field a table needs, and the cell its path names."""

    def check(rec: Any) -> None:
        require_keys(rec, RECORD_KEYS, "UCI record")
        for field, want in (("classifier", classifier), ("dataset", dataset)):
            if want is not None and rec[field] != want:
                raise DamagedFileError(f"record of {field} {rec[field]!r}, expected {want!r}")
        if not isinstance(rec["test_acc"], (int, float)) or not 0 <= rec["test_acc"] <= 1:
            raise DamagedFileError(f"test_acc {rec['test_acc']!r} is not an accuracy")

    return check


def _check_sidecar(side: Any) -> None:
    require_keys(side, (), "UCI sidecar")


def existing_record(
    records_dir: str | Path,
    classifier: str,
    dataset: str,
    spec: dict[str, Any],
    data_hash: str | None = None,
) -> dict[str, Any] | None:
    """The finished record of this cell, or None. ValueError if it was made with another spec
    (another grid or kernel) or other data: a table would mix different experiments.
    A damaged record or sidecar is set aside and None returned: the cell is recomputed."""
    path = record_path(records_dir, classifier, dataset)
    rec = read_checked(path, check=check_record(classifier, dataset))
    if rec is None:
        return None
    if rec.get("spec_hash") != spec_hash(spec):
        raise ValueError(
            f"{path} was written by classifier {classifier!r} with another spec "
            f"(hash {rec.get('spec_hash')!r}, now {spec_hash(spec)!r}); use another "
            f"records_dir or delete that folder to recompute"
        )
    if data_hash is not None and rec.get("data_hash") != data_hash:
        raise ValueError(
            f"{path} was computed on other data for {dataset!r} (hash {rec.get('data_hash')!r}, "
            f"now {data_hash!r}); use another records_dir for another copy of the collection"
        )
    side = sidecar_path(records_dir, classifier, dataset)
    if side.is_file() and read_checked(side, check=_check_sidecar) is None:
        return None  # the timings of a finished cell are lost: recompute them with the cell
    return rec


def write_record(records_dir: str | Path, record: dict[str, Any], sidecar: dict[str, Any]) -> Path:
    """Sidecar first, then the record (both atomic); returns the record's path."""
    clf, ds = record["classifier"], record["dataset"]
    # the sidecar on one line: it holds a row per SVC fit (thousands per classifier)
    atomic_write_json(sidecar_path(records_dir, clf, ds), sidecar, indent=None)
    return atomic_write_json(record_path(records_dir, clf, ds), record)


def load_records(
    records_dir: str | Path, classifiers: list[str] | None = None
) -> dict[tuple[str, str], dict[str, Any]]:
    """{(classifier, dataset): record} for every record under `records_dir` (or only the
    given classifiers); FileNotFoundError naming the folder and how to fill it if empty."""
    root = Path(records_dir)
    if classifiers is None:
        folders = sorted(p for p in root.glob("*") if p.is_dir() and p.name != RUNS)
    else:
        folders = [root / c for c in classifiers]
        missing = [c for c, f in zip(classifiers, folders) if not f.is_dir()]
        if missing:
            found = sorted(p.name for p in root.glob("*") if p.is_dir() and p.name != RUNS)
            raise ValueError(f"no records for classifier(s) {missing} under {root}; found: {found}")
    out = {}
    for folder in folders:
        for path in sorted(folder.glob("*.json")):
            rec = read_checked(path, check=check_record(folder.name, path.stem), keep=True)
            if rec is not None:
                out[(rec["classifier"], rec["dataset"])] = rec
    if not out:
        raise FileNotFoundError(
            f"no UCI records under {root}; run `python train.py -m experiment=uci_table1` "
            "(docs/uci.md) or point records_dir at a folder that holds them"
        )
    return out

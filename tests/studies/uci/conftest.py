"""Helpers for the UCI study tests: a fixed record set and tiny synthetic collections."""

from __future__ import annotations

from pathlib import Path

import pytest

from nvk.studies.uci.records import write_record

# Hand-checked accuracies (tests/studies/uci/test_table.py works the metrics out by hand):
# dataset -> classifier -> mean fold accuracy.
FIXED = {
    "d1": {"A": 0.90, "B": 0.80, "C": 0.90},  # A, C tie for the best
    "d2": {"A": 0.54, "B": 0.60, "C": 0.40},  # A exactly at 90 % of the best
    "d3": {"A": 0.70, "B": 0.70, "C": 0.70},  # a three-way tie
    "d4": {"A": 1.00, "B": 0.94, "C": 0.85},
}


def fake_record(classifier: str, dataset: str, test_acc: float) -> dict:
    return {"classifier": classifier, "dataset": dataset, "test_acc": test_acc,
            "fold_accs": [test_acc] * 4, "spec_hash": "fixed"}  # fmt: skip


@pytest.fixture
def fixed_records(tmp_path: Path) -> Path:
    """FIXED written as records (plus an extra dataset only classifier A has)."""
    root = tmp_path / "records"
    for ds, row in FIXED.items():
        for clf, a in row.items():
            write_record(root, fake_record(clf, ds, a), {})
    write_record(root, fake_record("A", "only_a", 0.5), {})
    return root

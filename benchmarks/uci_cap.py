"""What the libsvm iteration cap costs and saves: a capped records folder against an uncapped one.

    .venv/bin/python benchmarks/uci_cap.py [--capped results/uci_table1/records]
        [--uncapped results/uci_table1/records_uncapped] [--out benchmarks/results/uci_cap.json]

For every (classifier, dataset) cell in both folders (same spec and data hash required):

* cells whose capped run never reached the cap must equal the uncapped run exactly (validation
  accuracies, chosen setting, fold accuracies): counted, and any difference is listed;
* cells with capped fits: test accuracy capped vs uncapped, whether the chosen setting changed,
  and the cell's seconds in both runs (from the sidecars).

Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from nvk.studies.uci.records import load_records, sidecar_path
from nvk.utils.io import atomic_write_json, read_json

ROOT = Path(__file__).resolve().parents[1]
SAME = ("settings", "val_accs", "best", "fold_accs", "test_acc")  # hashes are checked first


def seconds(root: Path, clf: str, ds: str) -> float | None:
    p = sidecar_path(root, clf, ds)
    return read_json(p)["seconds"]["total"] if p.is_file() else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--capped", type=Path, default=ROOT / "results/uci_table1/records")
    ap.add_argument("--uncapped", type=Path, default=ROOT / "results/uci_table1/records_uncapped")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/uci_cap.json")
    args = ap.parse_args()
    capped, free = load_records(args.capped), load_records(args.uncapped)
    rows, identical, differs = [], 0, []
    for key in sorted(set(capped) & set(free)):
        a, b = capped[key], free[key]
        if b.get("capped_fits"):
            raise ValueError(f"{args.uncapped}: {key} has capped fits; it is not an uncapped run")
        if a["spec_hash"] != b["spec_hash"] or a["data_hash"] != b["data_hash"]:
            continue  # another grid or other data: not comparable
        if not a.get("capped_fits"):
            if all(a[k] == b[k] for k in SAME):
                identical += 1
            else:
                differs.append("/".join(key))
            continue
        clf, ds = key
        rows.append({
            "classifier": clf, "dataset": ds, "n_rows": a["n_rows"],
            "capped_fits": len(a["capped_fits"]),
            "capped_splits": sorted({f["split"] for f in a["capped_fits"]}),
            "test_acc_capped": a["test_acc"], "test_acc_uncapped": b["test_acc"],
            "diff_points": round(100 * (a["test_acc"] - b["test_acc"]), 4),
            "same_choice": a["best"] == b["best"],
            "best_capped": a["best"], "best_uncapped": b["best"],
            "seconds_capped": seconds(args.capped, clf, ds),
            "seconds_uncapped": seconds(args.uncapped, clf, ds),
        })  # fmt: skip
    print(f"{identical} cells without capped fits equal their uncapped run exactly; "
          f"{len(differs)} differ{': ' + ', '.join(differs) if differs else ''}")  # fmt: skip
    print(f"{'cell':42s} {'n':>5s} {'capped':>6s} {'acc cap':>8s} {'acc free':>8s} "
          f"{'Δ pts':>6s} {'same':>5s} {'s cap':>7s} {'s free':>7s}")  # fmt: skip
    for r in rows:
        sc, sf = r["seconds_capped"], r["seconds_uncapped"]
        print(f"{r['classifier'] + '/' + r['dataset']:42s} {r['n_rows']:5d} {r['capped_fits']:6d} "
              f"{100 * r['test_acc_capped']:8.2f} {100 * r['test_acc_uncapped']:8.2f} "
              f"{r['diff_points']:6.2f} {r['same_choice']!s:>5s} "
              f"{sc or float('nan'):7.0f} {sf or float('nan'):7.0f}")  # fmt: skip
    out = {"identical": identical, "differs": differs, "capped_cells": rows,
           "capped": str(args.capped), "uncapped": str(args.uncapped)}  # fmt: skip
    atomic_write_json(args.out, out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""Side by side: `python -m nvk.studies.frequency.report <dir> [<dir> ...]`.

Collects every `frequency.json` and `random_labels.json` below the given folders (a multirun,
or several runs), writes `frequency_compare.png` / `random_labels_compare.png` and a summary
`frequency_summary.json` (counts, extrapolated flags, exponents per model) into the first folder.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from nvk.studies.frequency.plots import plot_compare, plot_random_labels
from nvk.utils.io import atomic_write_json, read_checked, require_keys


def collect(dirs: list[str | Path], name: str) -> list[dict[str, Any]]:
    """Records `name` (e.g. frequency.json) below `dirs`, sorted by path; missing folders fail."""
    out = []
    for d in map(Path, dirs):
        if not d.is_dir():
            raise FileNotFoundError(f"{d} is not a folder; pass the multirun folder of the study")
        found = (read_checked(p, check=require_keys, keep=True) for p in sorted(d.rglob(name)))
        out += [r for r in found if r is not None]  # damaged ones are named and skipped
    return out


def summary(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Per model: frequencies, counts, extrapolated flags, fitted exponents (and NTK twin's)."""
    out: dict[str, Any] = {}
    for r in records:
        c = r["curves"]
        row = {k: c[k] for k in ("frequencies", "counts", "extrapolated")}
        row |= {"exponent": c["fit"]["exponent"], "exponent_all": c["fit_all"]["exponent"],
                "local_exponents": c["fit"]["local"], "dim": r["dim"], "n": r["n"]}  # fmt: skip
        if "ntk_twin" in r:
            row["ntk_twin_exponent"] = r["ntk_twin"]["fit"]["exponent"]
            row["ntk_twin_counts"] = r["ntk_twin"]["counts"]
            row |= {k: v for k, v in c["extra"].items()}
        out[r["name"]] = row
    return out


def report(dirs: list[str | Path]) -> dict[str, Any]:
    """Write the comparison figures and summary into dirs[0]; return the summary."""
    out_dir = Path(dirs[0])
    freq = collect(dirs, "frequency.json")
    labels = collect(dirs, "random_labels.json")
    if not freq and not labels:
        raise FileNotFoundError(
            f"no frequency.json or random_labels.json below {[str(d) for d in dirs]}; run "
            "`python train.py -m experiment=frequency model=mlp_wide,ntk,laplace,gaussian` first"
        )
    result: dict[str, Any] = {}
    if freq:
        result["frequency"] = summary(freq)
        plot_compare(freq, out_dir / "frequency_compare.png")
    if labels:
        result["random_labels"] = {
            r["name"]: {k: r[k] for k in ("noise", "epochs", "extrapolated")} for r in labels
        }
        plot_random_labels(labels, out_dir / "random_labels_compare.png")
    atomic_write_json(out_dir / "frequency_summary.json", result)
    return result


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python -m nvk.studies.frequency.report <run or multirun dir> [...]")
    for name, rows in report(sys.argv[1:]).items():
        for model, row in rows.items():
            print(name, model, {k: v for k, v in row.items() if k != "local_exponents"})

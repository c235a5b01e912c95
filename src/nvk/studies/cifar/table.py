"""The CIFAR-10 Table 3 table (`python evaluate.py task=cifar_table3`) from the study's records.

One row per record: test accuracy with its 95 % Wilson interval (10 000 test images), the
paper's number beside it (Geifman et al. 2020, Table 3, 2000-image column) and the difference
in points, the validation accuracy and choice, and the row's CPU hours; below, the study's CPU
hours and wall time (the union of the rows' running intervals). Written atomically as
`table3.md`, `table3.csv`, `table3.json` and `table3.png` into `out_dir`.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from nvk.studies.cifar.records import load_records
from nvk.studies.common import save_figure, union_seconds
from nvk.utils.io import atomic_write_json, atomic_write_text

log = logging.getLogger("nvk.studies")

ORDER = ("cntk", "cexp_laplace", "cexp_gaussian", "cexp_gamma_exp", "ntk", "laplace",
         "h_laplace", "mlp", "cnn")  # fmt: skip


def _order(row: str) -> tuple[int, str]:
    base = next((i for i, name in enumerate(ORDER) if row == name or row.startswith(name + "_")),
                len(ORDER))  # fmt: skip
    tail = row.split("_")[-1]
    digits = "".join(ch for ch in tail if ch.isdigit())
    return base, f"{int(digits):08d}" if digits else row


def _interval(side: dict[str, Any]) -> tuple[float, float] | None:
    try:
        end = dt.datetime.fromisoformat(side["finished"].replace("Z", "+00:00")).timestamp()
        return end - float(side["seconds"]["total"]), end
    except (KeyError, TypeError, ValueError):
        return None


def wall_hours(sidecars: list[dict[str, Any]]) -> float:
    """Hours covered by the union of the rows' running intervals."""
    return union_seconds(filter(None, map(_interval, sidecars))) / 3600


def rows(records: dict[str, dict[str, Any]], paper: dict[str, float]) -> list[dict[str, Any]]:
    out = []
    for name in sorted(records, key=_order):
        r = records[name]
        side = r.get("_sidecar", {})
        ours = 100 * r["test_acc"]
        ref = paper.get(name)
        out.append({"row": name, "kind": r.get("kind"), "test_acc": round(ours, 2),
                    "ci95": [round(100 * v, 2) for v in r["test_ci95"]],
                    "paper": ref, "diff": None if ref is None else round(ours - ref, 2),
                    "val_acc": round(100 * r["val_acc"], 2), "best": r.get("best"),
                    "cpu_hours": round(side.get("cpu_seconds", 0.0) / 3600, 3)})  # fmt: skip
    return out


def markdown(table: list[dict[str, Any]], cpu: float, wall: float, n_test: int) -> str:
    def best(b: dict | None) -> str:
        return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                         for k, v in (b or {}).items())  # fmt: skip

    lines = ["| model | test acc % | 95 % interval | paper % | Δ points | val acc % | choice "
             "| CPU h |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for t in table:
        paper = "" if t["paper"] is None else f"{t['paper']:.1f}"
        diff = "" if t["diff"] is None else f"{t['diff']:+.2f}"
        lines.append(f"| {t['row']} | {t['test_acc']:.2f} | {t['ci95'][0]:.2f}–{t['ci95'][1]:.2f}"
                     f" | {paper} | {diff} | {t['val_acc']:.2f} | {best(t['best'])} | "
                     f"{t['cpu_hours']:.2f} |")  # fmt: skip
    lines += ["", f"{len(table)} rows, {n_test} test images; {cpu:.2f} CPU hours, {wall:.2f} h "
              "wall (union of the rows' running intervals)."]  # fmt: skip
    return "\n".join(lines) + "\n"


def figure(table: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 0.38 * len(table) + 1.2))
    ys = range(len(table))[::-1]
    for y, t in zip(ys, table):
        color = "tab:blue" if t["kind"] == "kernel" else "tab:orange"
        lo, hi = t["ci95"]
        ax.errorbar(t["test_acc"], y, xerr=[[t["test_acc"] - lo], [hi - t["test_acc"]]],
                    fmt="o", color=color, capsize=3)  # fmt: skip
        if t["paper"] is not None:
            ax.plot(t["paper"], y, "kx", ms=8)
    ax.set_yticks(list(ys), [t["row"] for t in table])
    ax.set_xlabel("test accuracy % (95 % interval); x: Geifman et al. 2020, Table 3")
    ax.set_title("CIFAR-10, 2000 training images, 10 000 test images")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)


def build_table(
    cfg: DictConfig, *, records_dir: str, out_dir: str, paper: Any = None
) -> dict[str, float]:
    """`task=cifar_table3`: write table3.md/.csv/.json/.png into `out_dir`, print the table,
    return {cifar/<row>/acc: test accuracy}."""
    records = load_records(records_dir)
    paper = OmegaConf.to_container(paper, resolve=True) if OmegaConf.is_config(paper) else paper
    table = rows(records, dict(paper or {}))
    sides = [r.get("_sidecar", {}) for r in records.values()]
    cpu = sum(s.get("cpu_seconds", 0.0) for s in sides) / 3600
    wall = wall_hours(sides)
    n_test = max(r["n_test"] for r in records.values())
    md = markdown(table, cpu, wall, n_test)
    out = Path(out_dir)
    atomic_write_text(out / "table3.md", md)
    atomic_write_json(out / "table3.json", {"rows": table, "cpu_hours": cpu, "wall_hours": wall})
    header = "row,kind,test_acc,ci_low,ci_high,paper,diff,val_acc,cpu_hours\n"
    atomic_write_text(out / "table3.csv", header + "".join(
        f"{t['row']},{t['kind']},{t['test_acc']},{t['ci95'][0]},{t['ci95'][1]},"
        f"{'' if t['paper'] is None else t['paper']},{'' if t['diff'] is None else t['diff']},"
        f"{t['val_acc']},{t['cpu_hours']}\n" for t in table))  # fmt: skip
    figure(table, out / "table3.png")
    print(md, flush=True)
    return {f"cifar/{t['row']}/acc": t["test_acc"] for t in table}

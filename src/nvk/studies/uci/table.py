"""Table 1 from the records: Friedman rank, accuracy, P90, P95, PMA; Wilcoxon; Friedman + Nemenyi.

Definitions (Fernández-Delgado et al. 2014; Arora et al. 2020; Geifman et al. 2020, Table 1),
over the N datasets on which every compared classifier has a record, with a_{d,c} the mean
fold accuracy of classifier c on dataset d and m_d = max_c a_{d,c}:

* Friedman rank: per dataset, rank the classifiers by accuracy (1 = best, ties get the average
  of the ranks they span), then average over datasets.
* accuracy: mean ± std over datasets of a_{d,c}, in % (std with ddof = 0, numpy's default).
* P90 / P95: % of datasets with a_{d,c} ≥ 0.90 m_d / 0.95 m_d.
* PMA: mean ± std (ddof = 0) over datasets of 100 a_{d,c} / m_d.
* Wilcoxon signed-rank test of two classifiers over the datasets (scipy.stats.wilcoxon,
  zero differences dropped: zero_method="wilcox").
* Friedman test (scipy.stats.friedmanchisquare) and the Nemenyi critical difference
  CD = q_α √(k (k + 1) / (6 N)), q_α = studentized range quantile(1 − α; k, ∞) / √2 (Demšar 2006).

Ranks, P90, P95 and PMA depend on the set of compared classifiers (the paper ranks among ~180),
so only the average accuracy compares directly with the paper.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig
from scipy import stats

from nvk.studies.uci.cost import cost_report
from nvk.studies.uci.cost import to_markdown as cost_markdown
from nvk.studies.uci.records import load_records
from nvk.utils.io import atomic_write_json, atomic_write_text

log = logging.getLogger("nvk")
DIFF_DIGITS = 10  # accuracy differences are compared at this precision (records keep 12)
TOL = 1e-12  # a_{d,c} ≥ 0.9 m_d up to rounding of the stored accuracies
NOTE = (
    "Friedman rank, P90, P95 and PMA are relative to the classifiers compared here "
    "({k} classifiers, {n} datasets); the paper ranks among ~180 classifiers, so only the "
    "average accuracy compares directly with its Table 1."
)


def accuracy_matrix(
    records: dict[tuple[str, str], dict[str, Any]], classifiers: list[str] | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """(datasets × classifiers) mean fold accuracies over the datasets every classifier has,
    rows sorted by name, columns in `classifiers` order (default: sorted); plus the datasets
    left out because some classifier lacks them."""
    names = classifiers or sorted({c for c, _ in records})
    per = {c: {d: r["test_acc"] for (cc, d), r in records.items() if cc == c} for c in names}
    missing = [c for c in names if not per[c]]
    if missing:
        raise ValueError(f"no records for classifier(s) {missing}; found {sorted(per)}")
    all_ds = sorted(set().union(*(set(v) for v in per.values())))
    common = [d for d in all_ds if all(d in per[c] for c in names)]
    acc = pd.DataFrame({c: [per[c][d] for d in common] for c in names}, index=common)
    acc.index.name = "dataset"
    return acc, [d for d in all_ds if d not in common]


def friedman_ranks(acc: pd.DataFrame) -> pd.DataFrame:
    """Per-dataset ranks (1 = most accurate; ties averaged), same shape as `acc`."""
    r = stats.rankdata(-acc.to_numpy(), axis=1, method="average")
    return pd.DataFrame(r, index=acc.index, columns=acc.columns)


def table1(acc: pd.DataFrame) -> pd.DataFrame:
    """One row per classifier: friedman_rank, acc_mean, acc_std, p90, p95, pma_mean, pma_std
    (all but the rank in %), n_datasets; sorted by rank (then name)."""
    if acc.empty:
        raise ValueError("table1: no dataset has records for every compared classifier")
    a = acc.to_numpy(dtype=np.float64)
    best = a.max(axis=1, keepdims=True)
    ratio = np.divide(a, best, out=np.ones_like(a), where=best > 0)
    out = pd.DataFrame(
        {
            "friedman_rank": friedman_ranks(acc).mean(axis=0).to_numpy(),
            "acc_mean": 100 * a.mean(axis=0),
            "acc_std": 100 * a.std(axis=0),
            "p90": 100 * (a >= 0.90 * best - TOL).mean(axis=0),
            "p95": 100 * (a >= 0.95 * best - TOL).mean(axis=0),
            "pma_mean": 100 * ratio.mean(axis=0),
            "pma_std": 100 * ratio.std(axis=0),
            "n_datasets": len(acc),
        },
        index=acc.columns,
    )
    out.index.name = "classifier"
    return out.sort_values(["friedman_rank", "classifier"], kind="stable")


def wilcoxon_test(acc: pd.DataFrame, a: str, b: str) -> dict[str, Any]:
    """Two-sided Wilcoxon signed-rank test of columns a vs b (zero differences dropped)."""
    for c in (a, b):
        if c not in acc.columns:
            raise ValueError(f"wilcoxon: no classifier {c!r}; compared: {list(acc.columns)}")
    # rounded, so equal gaps count as ties (1.0 - 0.94 and 0.6 - 0.54 differ in binary)
    d = np.round(acc[a].to_numpy() - acc[b].to_numpy(), DIFF_DIGITS)
    res: dict[str, Any] = {
        "a": a, "b": b, "n_datasets": len(d), "mean_diff": float(d.mean()) if len(d) else None,
        "a_wins": int((d > 0).sum()), "b_wins": int((d < 0).sum()), "ties": int((d == 0).sum()),
    }  # fmt: skip
    if len(d):  # 95 % bootstrap interval of the mean difference over datasets (seeded)
        boot = np.random.default_rng(0).choice(d, size=(10_000, len(d))).mean(axis=1)
        res["mean_diff_ci95"] = [float(np.quantile(boot, 0.025)), float(np.quantile(boot, 0.975))]
    x, y = acc[a].to_numpy(), acc[b].to_numpy()  # Pearson r of the per-dataset accuracies
    res["pearson_r"] = (
        float(np.corrcoef(x, y)[0, 1]) if len(d) > 1 and x.std() and y.std() else None
    )
    if (d != 0).sum() == 0:
        return {**res, "statistic": None, "p_value": 1.0}
    w = stats.wilcoxon(d, zero_method="wilcox")
    return {**res, "statistic": float(w.statistic), "p_value": float(w.pvalue)}


def nemenyi_cd(k: int, n: int, alpha: float = 0.05) -> float:
    """Nemenyi critical difference of average ranks for k classifiers on n datasets."""
    if k < 2 or n < 1 or not 0 < alpha < 1:
        raise ValueError(f"nemenyi_cd needs k >= 2, n >= 1, 0 < alpha < 1; got {k}, {n}, {alpha}")
    q = stats.studentized_range.ppf(1 - alpha, k, np.inf) / math.sqrt(2)
    return float(q * math.sqrt(k * (k + 1) / (6 * n)))


def friedman_test(acc: pd.DataFrame) -> dict[str, Any]:
    """Friedman χ² test over datasets (needs ≥ 3 classifiers and ≥ 2 datasets, else None)."""
    k, n = acc.shape[1], acc.shape[0]
    if k < 3 or n < 2:
        return {"statistic": None, "p_value": None}
    r = stats.friedmanchisquare(*(acc[c].to_numpy() for c in acc.columns))
    return {"statistic": float(r.statistic), "p_value": float(r.pvalue)}


def _fmt(x: float, nd: int = 2) -> str:
    return f"{x:.{nd}f}"


def to_markdown(tab: pd.DataFrame, extra: dict[str, Any]) -> str:
    """Table 1 as Markdown, with the compared-set note and the tests below it; a "paper" column
    (and our − paper) when `extra["paper"]` gives the published accuracies."""
    paper = extra.get("paper") or {}
    cols = "| classifier | Friedman rank | accuracy (%) | P90 (%) | P95 (%) | PMA (%) |"
    lines = [cols + (" paper (%) | Δ (points) |" if paper else ""),
             "|---|---:|---:|---:|---:|---:|" + ("---:|---:|" if paper else "")]  # fmt: skip
    for name, r in tab.iterrows():
        row = (
            f"| {name} | {_fmt(r.friedman_rank)} | {_fmt(r.acc_mean)} ± {_fmt(r.acc_std)} | "
            f"{_fmt(r.p90)} | {_fmt(r.p95)} | {_fmt(r.pma_mean)} ± {_fmt(r.pma_std)} |"
        )
        if paper:
            p = paper.get(name)
            row += " – | – |" if p is None else f" {_fmt(p)} | {r.acc_mean - p:+.2f} |"
        lines.append(row)
    lines += ["", NOTE.format(k=len(tab), n=int(tab.n_datasets.iloc[0]))]
    w = extra.get("wilcoxon")
    if w:
        p = "n/a" if w["p_value"] is None else f"{w['p_value']:.4g}"
        lines.append(
            f"Wilcoxon signed-rank {w['a']} vs {w['b']}: p = {p} over {w['n_datasets']} datasets "
            f"({w['a']} better on {w['a_wins']}, {w['b']} on {w['b_wins']}, {w['ties']} ties)"
            + ("." if w.get("pearson_r") is None else f"; Pearson r = {w['pearson_r']:.3f}.")
        )
        if w.get("mean_diff_ci95"):
            lo, hi = (100 * v for v in w["mean_diff_ci95"])
            lines.append(
                f"Mean accuracy difference {w['a']} − {w['b']}: {100 * w['mean_diff']:.2f} points "
                f"(95 % bootstrap interval over datasets {lo:.2f} to {hi:.2f})."
            )
    f = extra.get("friedman")
    if f and f["p_value"] is not None:
        lines.append(
            f"Friedman test: χ² = {f['statistic']:.4g}, p = {f['p_value']:.4g}; Nemenyi critical "
            f"difference (α = {extra['alpha']}) = {extra['critical_difference']:.4f}."
        )
    if extra.get("left_out"):
        lines.append(f"Left out (not run by every classifier): {', '.join(extra['left_out'])}.")
    if extra.get("capped"):  # per classifier: cells and fits; every cell is in stats.json
        per: dict[str, list[int]] = {}
        for key, n in extra["capped"].items():
            c = per.setdefault(key.split("/")[0], [0, 0])
            c[0], c[1] = c[0] + 1, c[1] + n
        if len(extra["capped"]) <= 6:
            what = ", ".join(f"{k} ({v})" for k, v in extra["capped"].items())
        else:
            what = ", ".join(f"{k}: {c} cells, {f} fits" for k, (c, f) in per.items())
            what += " (each cell in stats.json, `capped`)"
        lines.append(f"SVC fits stopped at the libsvm iteration cap: {what}.")
    return "\n".join(lines) + "\n"


def build_table(
    records_dir: str | Path,
    out_dir: str | Path,
    *,
    classifiers: list[str] | None = None,
    pair: tuple[str, str] | list[str] = ("ntk", "h_laplace"),
    alpha: float = 0.05,
    figures: bool = True,
    paper: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Read the records, write table.md, table.csv, accuracies.csv, stats.json (and
    figure3.png, cd_diagram.png) to `out_dir`; return {table, accuracies, stats}. `paper`:
    published mean accuracies in % by classifier name, shown beside ours."""
    records = load_records(records_dir, classifiers)
    acc, left_out = accuracy_matrix(records, classifiers)
    tab = table1(acc)
    a, b = pair
    extra: dict[str, Any] = {
        "alpha": alpha,
        "left_out": left_out,
        "friedman": friedman_test(acc),
        "critical_difference": nemenyi_cd(acc.shape[1], len(acc), alpha)
        if acc.shape[1] >= 2
        else None,
        "wilcoxon": wilcoxon_test(acc, a, b) if {a, b} <= set(acc.columns) else None,
        "note": NOTE.format(k=acc.shape[1], n=len(acc)),
        "paper": {str(k): float(v) for k, v in (paper or {}).items()},
        "capped": {  # "classifier/dataset": fits that reached the libsvm iteration cap
            f"{c}/{d}": len(r["capped_fits"])
            for (c, d), r in sorted(records.items())
            if r.get("capped_fits") and d in acc.index and c in acc.columns
        },
    }
    out = Path(out_dir)
    atomic_write_text(out / "table.md", to_markdown(tab, extra))
    atomic_write_text(out / "table.csv", tab.to_csv(float_format="%.6f"))
    atomic_write_text(out / "accuracies.csv", acc.to_csv(float_format="%.10f"))
    atomic_write_json(out / "stats.json", extra)
    try:
        cost = cost_report(records_dir, records=records)
    except FileNotFoundError:  # records without sidecars (copied tables): no cost report
        cost = None
    if cost is not None:
        atomic_write_text(out / "cost.md", cost_markdown(cost))
        atomic_write_text(out / "cost_cells.csv", cost["cells_table"].to_csv(index=False))
    if figures:
        from nvk.studies.uci.figures import cd_diagram, cost_figure, figure3

        if cost is not None:
            cost_figure(cost["cells_table"], out / "cost.png")

        if extra["wilcoxon"] is not None:
            figure3(acc, a, b, out / "figure3.png")
        if extra["critical_difference"] is not None:
            cd_diagram(tab.friedman_rank, extra["critical_difference"], out / "cd_diagram.png",
                       n_datasets=len(acc), alpha=alpha)  # fmt: skip
    return {"table": tab, "accuracies": acc, "stats": extra}


def table_task(
    cfg: DictConfig,
    *,
    records_dir: str,
    out_dir: str,
    classifiers: list[str] | None = None,
    pair: list[str] | None = None,
    alpha: float = 0.05,
    paper: dict[str, float] | None = None,
) -> dict[str, float]:
    """`python evaluate.py task=uci_table`: Table 1, figures and tests from the records; the
    table, its figures and each classifier's mean accuracy go to the loggers of `cfg.logger`."""
    from nvk.studies.loggers import log_study

    res = build_table(records_dir, out_dir, classifiers=list(classifiers) if classifiers else None,
                      pair=tuple(pair or ("ntk", "h_laplace")), alpha=alpha,
                      paper=dict(paper) if paper else None)  # fmt: skip
    out = Path(out_dir)
    tab = res["table"]
    metrics = {f"uci/{c}/acc": float(tab.loc[c, "acc_mean"]) for c in tab.index}
    figures = {f"uci/{n}": out / f"{n}.png" for n in ("figure3", "cd_diagram")}
    log_study(cfg, metrics, figures={k: p for k, p in figures.items() if p.is_file()},
              tables={"uci/table": tab.reset_index()})  # fmt: skip
    print((out / "table.md").read_text(), flush=True)
    print(f"[nvk] uci table: {out_dir}", flush=True)
    return metrics

"""Table 1 metrics against hand computations on a fixed record set, and the tests' statistics
against their definitions (exact sign-flip distribution, χ² formula, Demšar's q table)."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest

from nvk.studies.uci.records import load_records
from nvk.studies.uci.table import (
    accuracy_matrix,
    build_table,
    friedman_ranks,
    friedman_test,
    nemenyi_cd,
    table1,
    wilcoxon_test,
)
from tests.studies.uci.conftest import FIXED


def fixed_acc() -> pd.DataFrame:
    return pd.DataFrame(FIXED).T.sort_index()[["A", "B", "C"]]


def test_ranks_with_ties_by_hand():
    r = friedman_ranks(fixed_acc())
    # d1: A = C best -> (1 + 2) / 2 each, B 3; d2: B, A, C; d3: all tied -> 2; d4: A, B, C
    assert r.loc["d1"].tolist() == [1.5, 3.0, 1.5]
    assert r.loc["d2"].tolist() == [2.0, 1.0, 3.0]
    assert r.loc["d3"].tolist() == [2.0, 2.0, 2.0]
    assert r.loc["d4"].tolist() == [1.0, 2.0, 3.0]


def test_table1_by_hand():
    t = table1(fixed_acc())
    assert list(t.index) == ["A", "B", "C"]  # sorted by Friedman rank
    assert t.loc["A", "friedman_rank"] == pytest.approx((1.5 + 2 + 2 + 1) / 4)
    assert t.loc["B", "friedman_rank"] == pytest.approx((3 + 1 + 2 + 2) / 4)
    assert t.loc["C", "friedman_rank"] == pytest.approx((1.5 + 3 + 2 + 3) / 4)
    a = [0.90, 0.54, 0.70, 1.00]
    mean_a = sum(a) / 4
    assert t.loc["A", "acc_mean"] == pytest.approx(100 * mean_a)
    assert t.loc["A", "acc_std"] == pytest.approx(
        100 * math.sqrt(sum((v - mean_a) ** 2 for v in a) / 4)
    )
    # best per dataset: 0.9, 0.6, 0.7, 1.0
    # A: 0.9/0.9, 0.54/0.6 = 0.9 (counts for P90, not P95), 1, 1
    assert t.loc["A", "p90"] == pytest.approx(100.0)
    assert t.loc["A", "p95"] == pytest.approx(75.0)
    assert t.loc["A", "pma_mean"] == pytest.approx(100 * (1 + 0.9 + 1 + 1) / 4)
    # B: 0.8/0.9 < 0.9; 1; 1; 0.94 (>= 0.9, < 0.95)
    assert t.loc["B", "p90"] == pytest.approx(75.0)
    assert t.loc["B", "p95"] == pytest.approx(50.0)
    ratios_b = [0.8 / 0.9, 1, 1, 0.94]
    assert t.loc["B", "pma_mean"] == pytest.approx(100 * sum(ratios_b) / 4)
    mb = sum(ratios_b) / 4
    assert t.loc["B", "pma_std"] == pytest.approx(
        100 * math.sqrt(sum((v - mb) ** 2 for v in ratios_b) / 4)
    )
    # C: 1; 0.4/0.6; 1; 0.85
    assert t.loc["C", "p90"] == pytest.approx(50.0)
    assert t.loc["C", "p95"] == pytest.approx(50.0)
    assert t.loc["C", "pma_mean"] == pytest.approx(100 * (1 + 0.4 / 0.6 + 1 + 0.85) / 4)
    assert (t.n_datasets == 4).all()


def test_wilcoxon_statistic_by_hand():
    w = wilcoxon_test(fixed_acc(), "A", "B")
    # differences 0.1, -0.06, 0 (dropped), 0.06: |d| ranks 3, 1.5, 1.5 -> W+ = 4.5, W- = 1.5
    assert w["statistic"] == pytest.approx(1.5)
    assert (w["a_wins"], w["b_wins"], w["ties"]) == (2, 1, 1)
    assert 0 < w["p_value"] <= 1
    # Pearson r by hand: A = (.9, .54, .7, 1), B = (.8, .6, .7, .94)
    a, b = np.array([0.9, 0.54, 0.7, 1.0]), np.array([0.8, 0.6, 0.7, 0.94])
    da, db = a - a.mean(), b - b.mean()
    assert w["pearson_r"] == pytest.approx((da @ db) / math.sqrt((da @ da) * (db @ db)))
    lo, hi = w["mean_diff_ci95"]  # bootstrap of the mean of d = (.1, -.06, 0, .06)
    assert -0.06 <= lo < w["mean_diff"] < hi <= 0.1
    const = wilcoxon_test(pd.DataFrame({"a": [0.6, 0.7, 0.8], "b": [0.5, 0.6, 0.7]}), "a", "b")
    assert const["mean_diff_ci95"] == pytest.approx([0.1, 0.1])


def test_wilcoxon_p_value_is_the_exact_sign_flip_probability():
    d = np.array([0.11, -0.02, 0.05, 0.3, 0.07, -0.04, 0.09])  # distinct |d|, no zeros
    acc = pd.DataFrame({"a": 0.5 + d, "b": np.full(len(d), 0.5)})
    w = wilcoxon_test(acc, "a", "b")
    ranks = np.argsort(np.argsort(np.abs(d))) + 1
    w_plus = ranks[d > 0].sum()
    total = ranks.sum()
    obs = min(w_plus, total - w_plus)
    flips = [sum(r for r, s in zip(ranks, signs) if s) for signs in
             itertools.product([0, 1], repeat=len(d))]  # fmt: skip
    p = np.mean([min(t, total - t) <= obs for t in flips])
    assert w["statistic"] == obs
    assert w["p_value"] == pytest.approx(p, rel=1e-9)


def test_wilcoxon_all_equal_and_unknown_name():
    acc = pd.DataFrame({"a": [0.5, 0.6], "b": [0.5, 0.6]})
    assert wilcoxon_test(acc, "a", "b")["p_value"] == 1.0
    with pytest.raises(ValueError, match="no classifier 'z'"):
        wilcoxon_test(acc, "a", "z")


def test_friedman_statistic_matches_the_formula_without_ties():
    rng = np.random.default_rng(0)
    acc = pd.DataFrame(rng.permutation(15).reshape(5, 3) / 20.0, columns=list("abc"))
    n, k = acc.shape
    rbar = friedman_ranks(acc).mean(axis=0).to_numpy()
    chi2 = 12 * n / (k * (k + 1)) * ((rbar**2).sum() - k * (k + 1) ** 2 / 4)
    assert friedman_test(acc)["statistic"] == pytest.approx(chi2)


# Demšar (JMLR 2006), Table 5(a): q_0.05 of the Nemenyi test for k = 2..10 classifiers
DEMSAR_Q05 = [1.960, 2.343, 2.569, 2.728, 2.850, 2.949, 3.031, 3.102, 3.164]


@pytest.mark.parametrize("k", range(2, 11))
def test_nemenyi_cd_matches_demsar_table(k):
    n = 17
    q = nemenyi_cd(k, n) / math.sqrt(k * (k + 1) / (6 * n))
    assert q == pytest.approx(DEMSAR_Q05[k - 2], abs=1e-3)  # the table has 3 decimals
    with pytest.raises(ValueError, match="k >= 2"):
        nemenyi_cd(1, n)


def test_accuracy_matrix_keeps_common_datasets(fixed_records):
    acc, left = accuracy_matrix(load_records(fixed_records))
    assert list(acc.index) == ["d1", "d2", "d3", "d4"] and left == ["only_a"]
    assert list(acc.columns) == ["A", "B", "C"]
    acc2, left2 = accuracy_matrix(load_records(fixed_records, ["A"]), ["A"])
    assert len(acc2) == 5 and left2 == []


def test_build_table_writes_table_figures_and_note(fixed_records, tmp_path):
    out = tmp_path / "table"
    res = build_table(fixed_records, out, pair=("A", "B"))
    md = (out / "table.md").read_text()
    assert "| A | 1.62 |" in md and "relative to the classifiers compared here" in md
    assert "Left out (not run by every classifier): only_a." in md
    stats = json.loads((out / "stats.json").read_text())
    assert stats["wilcoxon"]["statistic"] == pytest.approx(1.5)
    assert stats["critical_difference"] == pytest.approx(nemenyi_cd(3, 4))
    csv = pd.read_csv(out / "table.csv", index_col=0)
    assert csv.loc["B", "p95"] == pytest.approx(50.0)
    for png in ("figure3.png", "cd_diagram.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert res["table"].index.tolist() == ["A", "B", "C"]


def test_missing_records_say_where_and_how(tmp_path, fixed_records):
    with pytest.raises(FileNotFoundError, match="experiment=uci_table1"):
        load_records(tmp_path / "nothing")
    with pytest.raises(ValueError, match="no records for classifier"):
        load_records(fixed_records, ["A", "ZZ"])


def test_capped_cells_are_listed(fixed_records, tmp_path):
    """Cells whose fits stopped at the libsvm cap are named under the table (compared cells
    only: only_a is left out of the table, so its capped fits are not listed)."""
    for clf, ds, n in [("B", "d2", 2), ("A", "only_a", 1)]:
        path = fixed_records / clf / f"{ds}.json"
        rec = json.loads(path.read_text())
        rec["capped_fits"] = [{"split": "tune", "index": i, "n_iter": 10} for i in range(n)]
        path.write_text(json.dumps(rec))
    build_table(fixed_records, tmp_path, pair=("A", "B"), figures=False)
    md = (tmp_path / "table.md").read_text()
    assert "stopped at the libsvm iteration cap: B/d2 (2)." in md
    assert json.loads((tmp_path / "stats.json").read_text())["capped"] == {"B/d2": 2}
    for i in range(1, 5):  # past six cells: counts per classifier
        path = fixed_records / "C" / f"d{i}.json"
        rec = json.loads(path.read_text())
        rec["capped_fits"] = [{"split": "tune", "index": 0, "n_iter": 10}] * i
        path.write_text(json.dumps(rec))
    for i in range(1, 4):
        path = fixed_records / "A" / f"d{i}.json"
        rec = json.loads(path.read_text())
        rec["capped_fits"] = [{"split": "tune", "index": 0, "n_iter": 10}]
        path.write_text(json.dumps(rec))
    build_table(fixed_records, tmp_path, pair=("A", "B"), figures=False)
    md = (tmp_path / "table.md").read_text()
    want = "cap: A: 3 cells, 3 fits, B: 1 cells, 2 fits, C: 4 cells, 10 fits (each cell in"
    assert want in md


def test_paper_column(fixed_records, tmp_path):
    build_table(fixed_records, tmp_path, pair=("A", "B"), figures=False, paper={"A": 80.0})
    md = (tmp_path / "table.md").read_text()
    assert "| paper (%) | Δ (points) |" in md
    row_a = next(line for line in md.splitlines() if line.startswith("| A |"))
    row_b = next(line for line in md.splitlines() if line.startswith("| B |"))
    assert row_a.endswith("| 80.00 | -1.50 |")  # A's mean: (90 + 54 + 70 + 100) / 4 = 78.5
    assert row_b.endswith("| – | – |")


def _table_task(fixed_records, tmp_path, *overrides):
    from hydra.utils import instantiate

    from tests.conftest import compose_cfg

    out = tmp_path / "table"
    cfg = compose_cfg("eval", ["task=uci_table", f"task.records_dir={fixed_records}",
                               f"task.out_dir={out}", "task.pair=[A,B]", *overrides],
                      tmp_path / "run")  # fmt: skip
    return instantiate(cfg.task)(cfg), tmp_path / "run"


def test_table_task_logs_through_csv_alone(fixed_records, tmp_path):
    metrics, run = _table_task(fixed_records, tmp_path, "logger=csv")
    assert not list(tmp_path.rglob("wandb")), "logger=csv made a W&B run"
    logged = pd.read_csv(run / "csv" / "metrics.csv")
    assert set(metrics) == {"uci/A/acc", "uci/B/acc", "uci/C/acc"}
    assert logged["uci/A/acc"].dropna().tolist() == [pytest.approx(metrics["uci/A/acc"])]


def test_table_task_default_logger_is_an_offline_wandb_run(fixed_records, tmp_path, monkeypatch):
    import wandb

    monkeypatch.delenv("WANDB_MODE", raising=False)  # the config's own default: offline
    monkeypatch.setenv("WANDB_API_KEY", "")  # nothing to log in with: offline must not ask
    _, run = _table_task(fixed_records, tmp_path)  # task=uci_table defaults to logger=many
    (offline,) = (run / "wandb").glob("offline-run-*")
    assert list(offline.glob("*.wandb")) and wandb.run is None  # written, then closed
    assert (run / "csv" / "metrics.csv").is_file()

"""The frequency and random-label tasks through the real configs, shrunk; the report."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from nvk.studies.frequency.random_labels import (
    RandomLabelOptions,
    kernel_epochs,
    noisy_labels,
    run_random_labels,
)
from nvk.studies.frequency.report import report
from nvk.studies.frequency.study import run_frequency
from nvk.utils.io import read_json

SMALL = ["data.n=24", "data.frequencies=[1,2,4]", "data.amplitudes=[0.1,0.1,0.1]",
         "task.max_steps=40", "task.n_log=8", "task.fit_kmin=1"]  # fmt: skip


@pytest.mark.parametrize("model", ["ntk", "mlp"])
def test_frequency_task_writes_records_plot_and_metrics(cfg_train, model: str) -> None:
    extra = ["model.width=64"] if model == "mlp" else []
    cfg = cfg_train("experiment=frequency", f"model={model}", *SMALL, *extra)
    metrics = run_frequency(cfg)
    out = cfg.paths.output_dir
    rec = read_json(f"{out}/frequency.json")
    assert rec["name"] == model and rec["frequencies"] == [1, 2, 4]
    assert (rec["kind"] == "network") == (model == "mlp") and ("ntk_twin" in rec) == (
        model == "mlp"
    )
    assert "freq/k1/steps" in metrics
    with open(next(Path(out).rglob("metrics.csv"))) as f:
        header = next(csv.reader(f))
    assert "freq/k4/residual" in header and "freq/k1/steps" in header
    assert (Path(out) / "frequency.png").stat().st_size > 0
    assert not list(Path(out).rglob("wandb")), "logger=csv made a W&B run"


def test_frequency_task_on_s2(cfg_train) -> None:
    cfg = cfg_train("experiment=frequency", "model=laplace", "data.dim=3", "data.sampling=uniform",
                    "data.n=60", "data.frequencies=[1,2,3]", "data.amplitudes=[1,1,1]",
                    "task.max_steps=30", "task.fit_kmin=1")  # fmt: skip
    run_frequency(cfg)
    rec = read_json(f"{cfg.paths.output_dir}/frequency.json")
    counts = rec["curves"]["counts"]
    assert rec["dim"] == 3 and counts == sorted(counts)  # higher frequencies take longer


def test_single_target_network_runs_stop_once_their_harmonic_is_learned(cfg_train) -> None:
    # target=single on S^2: each harmonic's run ends at its own count; the merged record keeps
    # every run's logged residuals (None after a run stopped) and the steps taken in all
    cfg = cfg_train("experiment=frequency", "model=mlp", "model.width=64", "data.dim=3",
                    "data.sampling=uniform", "data.n=40", "data.frequencies=[1,3]",
                    "data.amplitudes=[0.01,0.01]", "task.target=single", "task.max_steps=400",
                    "task.n_log=12", "task.fit_kmin=1")  # fmt: skip
    metrics = run_frequency(cfg)
    c = read_json(f"{cfg.paths.output_dir}/frequency.json")["curves"]
    c1, c3 = c["counts"]
    assert c1 is not None and c3 is not None and c1 < c3 < 400
    assert c["extra"]["steps_run"] == c1 + c3 == metrics["freq/steps_run"]
    assert c["steps"] == sorted(set(c["steps"])) and c["steps"][-1] == c3
    r1, r3 = c["residual"]
    logged1 = [t for t, v in zip(c["steps"], r1) if v is not None]
    assert logged1[-1] == c1 and all(v is None for t, v in zip(c["steps"], r1) if t > c1)
    v3 = [v for v in r3 if v is not None]  # None also where only the other run logged a step
    assert r3[-1] is not None and v3[-1] <= 0.1 < v3[-2]


def test_options_live_under_task_and_a_typo_names_the_valid_ones(cfg_train) -> None:
    from nvk.studies.common import task_options
    from nvk.studies.frequency.study import FrequencyOptions

    cfg = cfg_train("experiment=frequency", "model=laplace", "task.threshold=0.2")
    assert task_options(cfg, FrequencyOptions, ("records_dir",)).threshold == 0.2
    bad = cfg_train("experiment=frequency", "model=laplace", "+task.treshold=0.2")
    with pytest.raises(
        ValueError,
        match=r"task.treshold is not an option of this study; valid: "
        r"dtype, fit_kmin, lr, max_steps, n_log, name, records_dir, target",
    ):
        run_frequency(bad)


def test_frequency_rejects_classification_data(cfg_train) -> None:
    cfg = cfg_train("experiment=frequency", "model=ntk", "data.task=classification")
    with pytest.raises(ValueError, match="sphere regression"):
        run_frequency(cfg)


def test_random_labels_task_and_report(cfg_train, tmp_path) -> None:
    cfg = cfg_train("experiment=random_labels", "model=laplace", "task.n_train=40",
                    "task.noise=[0.0,1.0]", "task.max_steps=5")  # fmt: skip
    metrics = run_random_labels(cfg)
    rec = read_json(f"{cfg.paths.output_dir}/random_labels.json")
    assert rec["noise"] == [0.0, 1.0] and len(rec["epochs"]) == 2
    assert "labels/noise1/epochs" in metrics
    with open(Path(cfg.paths.output_dir) / "csv" / "metrics.csv") as f:  # cfg_train: logger=csv
        assert set(metrics) <= set(next(csv.reader(f)))
    assert not list(Path(cfg.paths.output_dir).rglob("wandb")), "logger=csv made a W&B run"
    out = report([cfg.paths.output_dir])
    assert "laplace" in out["random_labels"]


def test_kernel_epochs_closed_form_search_equals_iteration() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(30, 5, generator=g, dtype=torch.float64)
    x = x / x.norm(dim=1, keepdim=True)
    K = torch.exp(-(torch.cdist(x, x)))
    y = torch.randint(0, 3, (30,), generator=g)
    iterated, ext_a = kernel_epochs(K, y, 3, lr=1.0, max_steps=100_000)
    searched, ext_b = kernel_epochs(K, y, 3, lr=1.0, max_steps=1)
    assert not ext_a and (ext_b or searched <= 1)
    assert iterated == searched


def test_noisy_labels_and_options() -> None:
    y = torch.arange(100) % 10
    assert torch.equal(noisy_labels(y, 0.0, 10, 0), y)
    changed = (noisy_labels(y, 0.5, 10, 0) != y).sum()
    assert 0 < changed <= 50  # 50 redrawn, ~1/10 of them land on their old class
    with pytest.raises(ValueError, match="noise"):
        RandomLabelOptions(noise=[1.5])


def test_report_without_records_says_what_to_run(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="experiment=frequency"):
        report([tmp_path])


def test_single_targets_equal_the_sum_on_equispaced_circle(cfg_train) -> None:
    # harmonics are orthogonal eigenvectors of a circulant K: GD on the sum decouples exactly
    from nvk.studies.frequency.study import frequency_record

    base = ("experiment=frequency", "model=laplace", *SMALL)
    recs = [frequency_record(cfg_train(*base, f"task.target={t}")) for t in ("sum", "single")]
    assert recs[0]["curves"]["counts"] == recs[1]["curves"]["counts"]
    for a, b in zip(recs[0]["curves"]["residual"], recs[1]["curves"]["residual"]):
        assert a == pytest.approx(b, abs=1e-9)

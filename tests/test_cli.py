"""The command line as a researcher types it: train.py / evaluate.py / -m sweeps (subprocesses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
FAST = [
    "trainer=cpu",
    "trainer.max_epochs=2",
    "trainer.enable_progress_bar=false",
    "callbacks.rich_progress_bar=null",
    "model.width=64",
]


def run(script: str, *args: str, env: dict | None = None, check: bool = True):
    e = {k: v for k, v in os.environ.items() if not k.startswith("WANDB")}  # defaults apply
    e.update(env or {})
    r = subprocess.run(
        [sys.executable, str(ROOT / script), *args],
        cwd=ROOT,
        env=e,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if check and r.returncode != 0:
        raise AssertionError(f"{script} {args} failed:\n{r.stdout[-3000:]}\n{r.stderr[-5000:]}")
    return r


def test_train_then_evaluate_from_the_command_line(tmp_path):
    run_dir = tmp_path / "run"
    r = run("train.py", *FAST, f"hydra.run.dir={run_dir}")  # default logger: W&B + CSV
    assert "[nvk] done" in r.stdout and "test/acc=" in r.stdout
    trained = json.loads((run_dir / "metrics.json").read_text())
    # W&B ran offline without being told to, beside the CSV metrics and the records
    assert list((run_dir / "wandb").glob("offline-run-*")), "no offline W&B run"
    assert (run_dir / "csv" / "metrics.csv").is_file()
    assert (run_dir / "provenance.json").is_file() and (
        run_dir / ".hydra" / "config.yaml"
    ).is_file()

    eval_dir = tmp_path / "eval"
    run("evaluate.py", f"ckpt_path={trained['checkpoint']}", "trainer=cpu",
        "trainer.enable_progress_bar=false", f"hydra.run.dir={eval_dir}")  # fmt: skip
    evaluated = json.loads((eval_dir / "metrics.json").read_text())
    for k in ("test/acc", "test/auc", "test/loss"):
        assert evaluated[k] == pytest.approx(trained[k], abs=1e-6)


def test_multirun_with_joblib_writes_one_directory_per_job(tmp_path):
    # the default sweep dir (no hydra.sweep.dir given) resolves before Hydra's runtime exists
    run("train.py", "-m", "arch.width=64,256", "hydra/launcher=joblib", "logger=csv",
        *FAST[:-1], env={"NVK_LOG_DIR": str(tmp_path / "logs")})  # fmt: skip
    (sweep,) = (tmp_path / "logs" / "train" / "multiruns").iterdir()
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir() and p.name.isdigit())
    assert [p.name for p in jobs] == ["0", "1"]
    widths = []
    for job in jobs:
        assert (job / "metrics.json").is_file()
        widths.append(json.loads((job / "provenance.json").read_text())["command"])
        cfg = yaml.safe_load((job / "config_resolved.yaml").read_text())
        assert cfg["model"]["width"] == cfg["arch"]["width"]  # the network reads the arch
        widths[-1] = cfg["model"]["width"]
    assert sorted(widths) == [64, 256]


def test_optuna_search_runs_three_trials(tmp_path):
    sweep = tmp_path / "optuna"
    r = run("train.py", "hparams_search=optuna", "hydra.sweeper.n_trials=3",
            "hydra.sweeper.sampler.n_startup_trials=2", "logger=csv", *FAST[:-1],
            "trainer.max_epochs=1", f"hydra.sweep.dir={sweep}")  # fmt: skip
    jobs = [p for p in sweep.iterdir() if p.is_dir() and (p / "metrics.json").is_file()]
    assert len(jobs) == 3
    best = sweep / "optimization_results.yaml"
    assert best.is_file() and "best_value" in best.read_text()
    assert "Best value" in r.stdout + r.stderr


def test_unknown_config_option_is_hydras_error(tmp_path):
    r = run("train.py", "model=no_such_model", f"hydra.run.dir={tmp_path}", check=False)
    assert r.returncode != 0
    assert "no_such_model" in r.stderr and "Available options" in r.stderr
    r = run("train.py", "model.no_such_key=1", f"hydra.run.dir={tmp_path}", check=False)
    assert r.returncode != 0 and "no_such_key" in r.stderr


DIVERGE = "model.optimizer.lr=1e9"  # digits + SGD: NaN train/loss within 3 steps


def test_diverged_run_exits_nonzero_without_a_result(tmp_path):
    run_dir = tmp_path / "run"
    r = run("train.py", *FAST, "trainer.max_epochs=1", DIVERGE, f"hydra.run.dir={run_dir}",
            check=False)  # fmt: skip
    assert r.returncode != 0
    assert "NonFiniteLossError: train/loss is nan at epoch 0, batch" in r.stderr
    assert "model.optimizer.lr, now 1e+09" in r.stderr and "gradient_clip_val" in r.stderr
    assert "[nvk] done" not in r.stdout and not (run_dir / "metrics.json").exists()
    assert list((run_dir / "wandb").glob("offline-run-*"))  # W&B (default logger) was closed


@pytest.mark.parametrize("launcher", ["basic", pytest.param("joblib", marks=pytest.mark.slow)])
def test_multirun_marks_the_diverged_job_failed_and_finishes_the_others(tmp_path, launcher):
    sweep = tmp_path / "sweep"
    r = run("train.py", "-m", f"hydra/launcher={launcher}", f"{DIVERGE},0.1", "logger=csv",
            *FAST, "trainer.max_epochs=1", f"hydra.sweep.dir={sweep}", check=False)  # fmt: skip
    assert r.returncode != 0
    assert (sweep / "1" / "metrics.json").is_file()  # job 1 ran after job 0 failed
    assert not (sweep / "0" / "metrics.json").exists()
    assert "Error executing job with overrides" in r.stderr
    assert "model.optimizer.lr=1000000000.0" in r.stderr and f"run_dir: {sweep / '0'}" in r.stderr
    assert "NonFiniteLossError: train/loss is nan" in r.stderr


def test_optuna_records_a_diverged_trial_as_failed_and_goes_on(tmp_path):
    """max_failure_rate: 1.0 (conf/hparams_search/): the FAIL trial does not end the search."""
    sweep = tmp_path / "optuna"
    r = run("train.py", "-m", "hparams_search=optuna", "hydra.sweeper.n_trials=3",
            "hydra.sweeper.sampler.n_startup_trials=3",  # seeded random draws: 1e9, 0.1, 0.2
            "model.optimizer.lr=choice(0.1,1e9,0.2)", "arch.width=choice(64)",
            "arch.depth=choice(3)", "logger=csv", *FAST[:-1], "trainer.max_epochs=1",
            f"hydra.sweep.dir={sweep}")  # fmt: skip
    jobs = [sweep / str(i) for i in range(3)]
    assert "model.optimizer.lr=1000000000.0" in (jobs[0] / ".hydra" / "overrides.yaml").read_text()
    assert [(job / "metrics.json").is_file() for job in jobs] == [False, True, True]
    out = r.stdout + r.stderr
    assert out.count("Failed experiment: train/loss is nan") == 1  # told to Optuna as FAIL
    best = (sweep / "optimization_results.yaml").read_text()
    assert "best_value" in best and "1000000000.0" not in best

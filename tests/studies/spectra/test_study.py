"""`evaluate.py task=spectra` end to end with small settings: files, keys, figures, resume,
the UCI fixture and the fallback when the collection is missing."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from hydra.utils import instantiate

from nvk.studies.spectra.study import flat_metrics, load_points, sphere_part
from tests.conftest import compose_cfg
from tests.data.uci_fixture import write_uci_dataset

SMALL = [
    "task=spectra",
    "task.sphere.kmax=[32,16]",
    "task.sphere.low_range=[2,8]",
    "~task.sphere.kernels.gamma_exp_05",
    "~task.sphere.kernels.gamma_exp_15",
    "task.fits.depths=[2,3,4]",
    "task.fits.weights=[uniform]",
    "task.ntk.depth=3",
    "task.gram.n=null",
    "task.disk.n=120",
    "task.disk.m=4",
    "task.disk.grid=12",
]


def _abalone_like(root: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(0.1, 1.0, size=(50, 8))
    y = rng.integers(0, 3, size=50)
    idx = np.arange(50)
    write_uci_dataset(root, "abalone", x, y, (idx[:25], idx[25:]), [(idx[:25], idx[25:])] * 4)


def test_spectra_task_writes_figures_records_and_resumes(tmp_path):
    _abalone_like(tmp_path / "uci")
    out = tmp_path / "run"
    cfg = compose_cfg("eval", [*SMALL, f"paths.uci_dir={tmp_path / 'uci'}"], out)
    metrics = instantiate(cfg.task)(cfg)
    for name in (
        "figure1.png",
        "figure2.png",
        "figure4.png",
        "sphere_eigenvalues.png",
        "spectra.json",
        "metrics.json",
        "provenance.json",
        "disk_eigenfunctions.npz",
    ):
        assert (out / name).is_file(), name  # fmt: skip
    assert list((out / "wandb").glob("offline-run-*")), "W&B offline run missing"
    assert (out / "csv" / "metrics.csv").is_file()  # task=spectra logs as train.py: W&B + CSV
    rec = json.loads((out / "spectra.json").read_text())
    assert rec["gram"]["source"] == "uci/abalone" and rec["gram"]["n"] == 50
    assert len(rec["sphere"]["d2/laplace"]["eigenvalues"]) == 33
    assert rec["sphere"]["d2/ntk_L2_nobias"]["slopes"]["16_32"].keys() == {"even"}
    assert metrics == json.loads((out / "metrics.json").read_text()) == flat_metrics(rec)
    assert all("=" not in k and k.count("/") >= 2 and " " not in k for k in metrics)
    assert metrics["sphere/d2/laplace/slope_16_32"] == pytest.approx(-2.0, abs=0.15)
    assert metrics["fit/uniform/laplace/L4/c"] > metrics["fit/uniform/laplace/L3/c"]
    assert {
        "disk/agreement/first1",
        "disk/ntk_vs_laplace/first1",
        "gram/ntk/slope",
    } <= metrics.keys()
    # resume: parts with unchanged settings are read back, not recomputed
    stamp = (out / "parts" / "sphere.json").stat().st_mtime_ns
    cfg.logger = None  # logger=none
    assert instantiate(cfg.task)(cfg) == metrics
    assert (out / "parts" / "sphere.json").stat().st_mtime_ns == stamp


def test_spectra_with_logger_csv_makes_no_wandb_run(tmp_path):
    out = tmp_path / "run"
    cfg = compose_cfg("eval", [*SMALL, "task.gram=null", "task.disk=null", "logger=csv"], out)
    metrics = instantiate(cfg.task)(cfg)
    assert not list(tmp_path.rglob("wandb")), "logger=csv made a W&B run"
    with open(out / "csv" / "metrics.csv") as f:
        header = next(csv.reader(f))
    assert set(metrics) <= set(header) and "sphere/d2/laplace/slope_16_32" in header


def test_gram_falls_back_to_sphere_points_without_the_collection(tmp_path, caplog):
    x, source = load_points(str(tmp_path / "absent"), "abalone", 40, "sphere", seed=0)
    assert source == "uniform_sphere_d8" and x.shape == (40, 8)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0)
    assert "UCI collection not found" in caplog.text


SHARED_UCI = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "uci"


@pytest.mark.skipif(not (SHARED_UCI / "abalone").is_dir(), reason="no ../shared/data/uci")
def test_real_abalone_rows_load_and_normalize():
    root = SHARED_UCI
    x, source = load_points(str(root), "abalone", 200, "standardize_sphere", seed=0)
    assert source == "uci/abalone" and x.shape == (200, 8)


def test_sphere_part_rejects_mismatched_dims_and_kmax():
    with pytest.raises(ValueError, match=r"sphere.dims \[2, 3\] and sphere.kmax \[16\]"):
        sphere_part([2, 3], [16], {"laplace": {"kernel": "laplace", "c": 1.0}}, [2, 8])

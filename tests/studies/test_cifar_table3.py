"""The CIFAR-10 Table 3 study (nvk.studies.cifar) on a tiny folder in the real format: kernel
rows choose on the validation images only and match an independent numpy KRR, a killed row
resumes its selection and finishes byte-identical, network rows train once per width, and the
table puts the paper beside ours with Wilson intervals."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate

import nvk.studies.cifar.cell as cell
from nvk.kernels import cntk
from nvk.studies.cifar import grid_points, wilson
from tests.conftest import compose_cfg
from tests.data.cifar_fixture import write_tiny_cifar10

RIDGES = "task.ridges=[1.0e-3,1.0]"


@pytest.fixture(scope="module")
def cifar(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cifar")
    write_tiny_cifar10(root, per_batch=8, n_test=10)
    return root


def _cfg(tmp_path: Path, cifar: Path, model: str, *extra: str):
    over = ["experiment=cifar_table3", f"model={model}", f"paths.cifar_dir={cifar}",
            "data.subset=16", "data.val_size=8", f"task.records_dir={tmp_path / 'records'}",
            f"task.gram_cache={tmp_path / 'gram'}", "task.tile=5", RIDGES,
            "task.grids.cntk={depth:[1,2]}", *extra]  # fmt: skip
    return compose_cfg("train", over, tmp_path / "out")


def _run(cfg) -> dict[str, float]:
    return instantiate(cfg.task)(cfg)


def _krr_centered(K: np.ndarray, Kx: np.ndarray, y: np.ndarray, lam: float) -> np.ndarray:
    Y = np.eye(10)[y] - 0.1
    return Kx @ np.linalg.solve(K + lam * np.eye(len(K)), Y)


def test_wilson_interval_solves_the_score_equation():
    """The bounds are the two p with (k/n - p)² = z² p (1 - p) / n (Wilson 1927)."""
    from scipy.stats import norm

    z = norm.ppf(0.975)
    for k, n in ((4390, 10_000), (3, 10), (0, 10), (10, 10)):
        lo, hi = wilson(k, n)
        for p in (lo, hi):
            assert (k / n - p) ** 2 == pytest.approx(z * z * p * (1 - p) / n, abs=1e-11)
        assert lo <= k / n <= hi
    assert wilson(4390, 10_000)[1] - wilson(4390, 10_000)[0] == pytest.approx(0.0194, abs=1e-4)
    with pytest.raises(ValueError, match="n >= 1"):
        wilson(0, 0)


def test_grid_points_in_key_order():
    assert grid_points({"depth": [5, 8], "c": [1.0, 2.0]}) == [
        {"depth": 5, "c": 1.0}, {"depth": 5, "c": 2.0}, {"depth": 8, "c": 1.0},
        {"depth": 8, "c": 2.0}]  # fmt: skip
    assert grid_points({}) == [{}]


def test_kernel_row_chooses_on_validation_and_matches_numpy(tmp_path, cifar):
    cfg = _cfg(tmp_path, cifar, "cntk")
    out = _run(cfg)
    rec = json.loads((tmp_path / "records" / "cntk.json").read_text())
    dm = instantiate(cfg.data)
    d = dm.full_batch()
    assert len(d.x_train) == 16 and len(d.x_val) == 8 and len(d.x_test) == 10
    # independent: the kernel in float32 without tiles, numpy float64 solves, same ridge rule
    k = {p: functools.partial(cntk, depth=p) for p in (1, 2)}
    val = []
    for depth in (1, 2):
        K = k[depth](d.x_train, d.x_train).double().numpy()
        Kv = k[depth](d.x_val, d.x_train).double().numpy()
        for r in (1e-3, 1.0):
            pred = _krr_centered(K, Kv, d.y_train.numpy(), r * K.diagonal().mean()).argmax(1)
            val.append(float((pred == d.y_val.numpy()).mean()))
    assert [a for p in rec["selection"] for a in p["val_accs"]] == pytest.approx(val, abs=1e-12)
    best = int(np.argmax(val))  # first best
    depth, r = (1, 2)[best // 2], (1e-3, 1.0)[best % 2]
    assert rec["best"] == {"depth": depth, "ridge": r} and rec["val_acc"] == val[best]
    K = k[depth](d.x_train, d.x_train).double().numpy()
    Kt = k[depth](d.x_test, d.x_train).double().numpy()
    pred = _krr_centered(K, Kt, d.y_train.numpy(), r * K.diagonal().mean()).argmax(1)
    correct = int((pred == d.y_test.numpy()).sum())
    assert rec["test_correct"] == correct and rec["test_ci95"] == list(wilson(correct, 10))
    assert out == {"cifar/val_acc": rec["val_acc"], "cifar/test_acc": correct / 10}
    side = json.loads((tmp_path / "records" / "_runs" / "cntk.json").read_text())
    assert side["cpu_seconds"] > 0 and side["seconds"]["test"] > 0


def test_killed_selection_resumes_and_finishes_identically(tmp_path, cifar, monkeypatch):
    ref = tmp_path / "ref"
    _run(_cfg(ref, cifar, "cntk"))
    work = tmp_path / "work"
    import nvk.solvers.krr as krr

    real, calls = krr.krr_fit, {"n": 0}

    def dies(*a, **k):  # killed during the second grid point
        calls["n"] += 1
        if calls["n"] > 3:
            raise KeyboardInterrupt("killed")
        return real(*a, **k)

    monkeypatch.setattr(krr, "krr_fit", dies)
    with pytest.raises(KeyboardInterrupt):
        _run(_cfg(work, cifar, "cntk"))
    part = json.loads((work / "records" / "_partial" / "cntk.json").read_text())
    assert [p["point"] for p in part["points"]] == [{"depth": 1}]
    assert not (work / "records" / "cntk.json").exists()
    monkeypatch.setattr(krr, "krr_fit", real)
    _run(_cfg(work, cifar, "cntk"))
    assert (work / "records" / "cntk.json").read_bytes() == (
        ref / "records" / "cntk.json"
    ).read_bytes()
    before = (work / "records" / "cntk.json").stat().st_mtime_ns
    _run(_cfg(work, cifar, "cntk"))  # done: skipped
    assert (work / "records" / "cntk.json").stat().st_mtime_ns == before


def test_network_rows_one_per_width_then_the_table(tmp_path, cifar):
    cfg = _cfg(tmp_path, cifar, "cnn", "trainer=cpu", "trainer.max_epochs=1")
    cfg.task.grids.cnn = {"depth": [1], "channels": [4, 8]}
    _run(cfg)
    recs = tmp_path / "records"
    names = ["cnn_depth1_channels4.json", "cnn_depth1_channels8.json"]
    assert sorted(p.name for p in recs.glob("*.json")) == names
    stamps = [(recs / n).stat().st_mtime_ns for n in names]
    cfg = _cfg(tmp_path, cifar, "cnn", "trainer=cpu", "trainer.max_epochs=1")
    cfg.task.grids.cnn = {"depth": [1], "channels": [4, 8]}
    cfg.paths.output_dir = str(tmp_path / "another_run")  # as a new sweep's timestamped folder
    _run(cfg)  # both rows done: nothing retrained
    assert [(recs / n).stat().st_mtime_ns for n in names] == stamps
    _run(_cfg(tmp_path, cifar, "cntk"))
    eval_cfg = compose_cfg("eval", ["task=cifar_table3", f"task.records_dir={recs}",
                                    f"task.out_dir={tmp_path / 'table'}"], tmp_path)  # fmt: skip
    metrics = instantiate(eval_cfg.task)(eval_cfg)
    assert set(metrics) == {f"cifar/{n.removesuffix('.json')}/acc" for n in ["cntk.json", *names]}
    md = (tmp_path / "table" / "table3.md").read_text()
    lines = [ln for ln in md.splitlines() if ln.startswith("| c")]
    assert [ln.split(" | ")[0] for ln in lines] == ["| cntk", "| cnn_depth1_channels4",
                                                    "| cnn_depth1_channels8"]  # fmt: skip
    cntk_row = json.loads((tmp_path / "table" / "table3.json").read_text())["rows"][0]
    assert cntk_row["paper"] == 43.9
    assert cntk_row["diff"] == pytest.approx(cntk_row["test_acc"] - 43.9, abs=0.011)
    assert (tmp_path / "table" / "table3.png").stat().st_size > 0
    assert "CPU hours" in md and (tmp_path / "table" / "table3.csv").read_text().count("\n") == 4


def test_unknown_grid_key_names_it(tmp_path, cifar):
    cfg = _cfg(tmp_path, cifar, "cntk")
    cfg.task.grids.cntk = {"width": [1]}
    with pytest.raises(ValueError, match=r"task.grids.cntk names \['width'\]"):
        _run(cfg)


def test_float32_tiles_change_kernel_values_by_little(cifar):
    """The study's dtype: float32 CNTK tiles against float64 on the same images."""
    from nvk.data import CIFAR10DataModule

    d = CIFAR10DataModule(root=str(cifar), subset=16, val_size=8, checksum="skip").full_batch()
    k32 = cntk(d.x_train, depth=3).double()
    k64 = cntk(d.x_train.double(), depth=3)
    assert float(((k32 - k64).abs() / k64.abs().max()).max()) < 1e-5
    assert torch.allclose(k32, k64, rtol=1e-4)


def test_pixels_task_exact_vs_jpeg(tmp_path, cifar):
    from nvk.data.cifar10 import read_cifar10
    from nvk.studies.cifar.pixels import jpeg_roundtrip, mae

    x, _ = read_cifar10(cifar, train=True, checksum="skip")
    errs = [mae(x[:8], jpeg_roundtrip(x[:8], q)) for q in (30, 60, 95)]
    assert errs[0] > errs[1] > errs[2] > 0  # lower quality, larger error
    assert np.array_equal(jpeg_roundtrip(x[:2], 95).shape, x[:2].shape)
    cfg = compose_cfg("eval", ["task=cifar_pixels", f"paths.cifar_dir={cifar}", "task.n=10",
                               "task.kernels.cntk.depth=1", "task.kernels.cexp_laplace.depth=1",
                               f"task.out_dir={tmp_path}"], tmp_path)  # fmt: skip
    metrics = instantiate(cfg.task)(cfg)
    res = json.loads((tmp_path / "pixels.json").read_text())
    assert res["n_train"] == 10 and res["n_test"] == 10 and 30 <= res["quality"] <= 95
    assert set(res["kernels"]) == {"cntk", "cexp_laplace"}
    for r in res["kernels"].values():
        assert r["kernel_rel_change"] > 0 and 0 <= r["changed_predictions"] <= 1
        assert r["diff_points"] == pytest.approx(100 * (r["jpeg_acc"] - r["exact_acc"]))
    assert metrics["pixels/cntk/exact_acc"] == res["kernels"]["cntk"]["exact_acc"]
    assert "| cntk |" in (tmp_path / "pixels.md").read_text()


def test_tile_jobs_fill_the_cache_the_row_reads(tmp_path, cifar, monkeypatch):
    """The 50 000-image column's route: experiment=conv_gram jobs (train, val, test splits, the
    study's tile and dtype) compute every block; the study's row then computes no kernel value."""
    over = [f"paths.cifar_dir={cifar}", "data.subset=16", "data.val_size=8",
            f"task.cache_dir={tmp_path / 'gram'}", "task.dtype=float32", "task.tile=5",
            "kernel.depth=1"]  # fmt: skip
    for split in ("train", "val", "test"):
        for job in range(2):
            cfg = compose_cfg("train", ["experiment=conv_gram", "model=cntk", "data=cifar10",
                                        f"task.split={split}", f"task.job={job}", "task.jobs=2",
                                        *over], tmp_path / "jobs")  # fmt: skip
            instantiate(cfg.task)(cfg)
    import nvk.kernels.conv as conv

    monkeypatch.setattr(conv, "_cntk_fast_layers", lambda *a, **k: 1 / 0)  # must not run
    row = _cfg(tmp_path, cifar, "cntk")
    row.task.grids.cntk = {"depth": [1]}
    _run(row)
    assert json.loads((tmp_path / "records" / "cntk.json").read_text())["best"]["depth"] == 1


def test_damaged_record_is_set_aside_and_recomputed(tmp_path, cifar):
    _run(_cfg(tmp_path, cifar, "cntk"))
    rec = tmp_path / "records" / "cntk.json"
    good = rec.read_bytes()
    rec.write_bytes(good[:30])
    _run(_cfg(tmp_path, cifar, "cntk"))
    assert rec.read_bytes() == good and len(list(rec.parent.glob("cntk.json.damaged-*"))) == 1


def test_another_spec_or_copy_is_refused_not_overwritten(tmp_path, cifar, monkeypatch):
    _run(_cfg(tmp_path, cifar, "cntk"))
    rec = tmp_path / "records" / "cntk.json"
    before = rec.read_bytes()
    with pytest.raises(ValueError, match="another spec"):
        _run(_cfg(tmp_path, cifar, "cntk", "task.ridges=[1.0]"))
    monkeypatch.setattr(cell, "copy_hash", lambda dm: "0123456789abcdef")
    with pytest.raises(ValueError, match="other images"):
        _run(_cfg(tmp_path, cifar, "cntk"))
    assert rec.read_bytes() == before

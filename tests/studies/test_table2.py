"""experiment=table2 end to end on tiny files in the three real formats, the summary table,
selection records and resume, and the datasets x kernels sweep config."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.utils import instantiate
from omegaconf import OmegaConf
from sklearn.metrics import mean_squared_error, roc_auc_score

from nvk.data.base import DataInfo
from nvk.models.arch import kernel_model_form
from nvk.solvers import FalkonSolver
from nvk.studies import largescale
from nvk.utils.io import read_json
from tests.conftest import CONF, compose_cfg
from tests.data.largescale_fixture import write

SMALL = ["data.n_test=150", "data.val_size=100", "data.progress=false", "solver.centers=100",
         "task.select_rows=300", "task.select_solver.centers=50", "task.ridge=[1e-3,1e-6]",
         "task.grids.h_laplace.c=[0.5,2.0]", "task.grids.fc_ntk.depth=[2,3]"]  # fmt: skip
BASE = ["trainer=cpu", "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false",
        "callbacks.rich_progress_bar=null", "logger=csv"]  # fmt: skip


def table2_cfg(tmp_path: Path, folder: Path, *overrides: str):
    return compose_cfg("train", [*BASE, "experiment=table2", f"paths.largescale_dir={folder}",
                                 *SMALL, *overrides], tmp_path)  # fmt: skip


def run_cell(runs: Path, folder: Path, name: str, model: str) -> None:
    """Run one table cell through the task train.py runs; check its record and its test metric
    against the solver called directly and scored by scikit-learn."""
    write(folder, name, 700, seed=len(name))
    cfg = table2_cfg(runs / name, folder, f"data={name}", f"model={model}")
    metrics = instantiate(cfg.task)(cfg)
    rec = read_json(runs / name / largescale.RECORD)
    assert rec["dataset"] == name and rec["n_train"] == 450 and rec["n_test"] == 150
    key, larger = largescale.selection_metric(rec["task"], 2)
    vals = [p[key] for p in rec["selection"]]
    assert len(vals) == 4
    assert rec["selected"] == rec["selection"][vals.index((max if larger else min)(vals))]["point"]
    dm = instantiate(cfg.data)
    d = dm.full_batch()
    kernel = instantiate(cfg.kernel)
    assert {k: kernel.keywords[k] for k in rec["selected"]["kernel"]} == rec["selected"]["kernel"]
    solver = instantiate(cfg.solver)
    solver.fit(kernel, d.x_train, d.y_train, dm.info)
    s = solver.predict(kernel, d.x_test).numpy()
    if name == "msd":
        mse = mean_squared_error(d.y_test.numpy(), s[:, 0])
        assert metrics["test/mse"] == pytest.approx(mse, rel=1e-5)
        assert metrics["test/loss"] == pytest.approx(mse, rel=1e-5)  # squared loss = MSE
        assert mse < float(d.y_test.var())  # beats predicting the training mean
    else:
        p = torch.softmax(torch.from_numpy(s).float(), 1)[:, 1].numpy()
        auc = roc_auc_score(d.y_test.numpy(), p)
        assert metrics["test/auc"] == pytest.approx(auc, abs=1e-6)
        assert auc > 0.5 + 3 * np.sqrt(1 / 150)  # clearly above chance (3 std. errors)


def test_susy_end_to_end_and_the_summary_table(tmp_path):
    """SUSY.csv.gz through `experiment=table2`, then `evaluate.py task=table2`."""
    runs = tmp_path / "runs"
    run_cell(runs, tmp_path / "data", "susy", "h_laplace")
    ev = compose_cfg("eval", ["task=table2", f"task.runs_dir={runs}", "ckpt_path=unused"],
                     tmp_path / "eval")  # fmt: skip
    assert set(instantiate(ev.task)(ev)) == {"table2/susy/h_laplace"}
    assert "| susy | test/auc |" in (tmp_path / "eval" / "table2.md").read_text()


@pytest.mark.slow
@pytest.mark.parametrize(("name", "model"), [("msd", "ntk"), ("higgs", "h_laplace")])
def test_msd_and_higgs_end_to_end(tmp_path, name, model):
    run_cell(tmp_path / "runs", tmp_path / "data", name, model)


def test_summary_keeps_the_newest_record_per_cell(tmp_path):
    rec = {"task": "classification", "selected": {}, "n_train": 1}
    for i, (ds, k, auc) in enumerate([("susy", "ntk", 0.7), ("susy", "ntk", 0.8),
                                      ("msd", "h_laplace", None)]):  # fmt: skip
        m = {"test/mse": 80.0} if auc is None else {"test/auc": auc}
        task = "regression" if auc is None else "classification"
        path = tmp_path / str(i) / largescale.RECORD
        path.parent.mkdir()
        path.write_text(json.dumps({**rec, "dataset": ds, "kernel": k, "task": task, "metrics": m}))
        os.utime(path, (1000 + i, 1000 + i))
    md, values = largescale.table(largescale.collect(tmp_path))
    assert values == {"susy": {"ntk": 0.8}, "msd": {"h_laplace": 80.0}}
    assert "| msd | test/mse | 80.0000 | — |" in md


def test_selection_resumes_from_its_record(tmp_path, monkeypatch):
    folder = tmp_path / "data"
    write(folder, "susy", 400)
    cfg = table2_cfg(tmp_path, folder, "data=susy", "data.n_test=100", "data.val_size=50")
    dm = instantiate(cfg.data)
    best, first = largescale.select(cfg, dm, tmp_path)
    monkeypatch.setattr(FalkonSolver, "fit", lambda *a, **k: pytest.fail("refit a done point"))
    again, second = largescale.select(cfg, dm, tmp_path)
    assert again == best and second == first


def test_grid_errors_name_the_bad_value(tmp_path):
    with pytest.raises(ValueError, match="ridge is empty"):
        largescale.grid_points({"c": [1.0]}, [])
    cfg = table2_cfg(tmp_path, tmp_path, "data=susy", "+task.grids.h_laplace.width=[2]")
    with pytest.raises(ValueError, match=r"\['width'\], not parameters"):
        largescale.select(cfg, functools.partial(object), tmp_path)  # fails before any data


def test_no_records_says_how_to_make_them(tmp_path):
    ev = compose_cfg("eval", ["task=table2", f"task.runs_dir={tmp_path}", "ckpt_path=x"],
                     tmp_path)  # fmt: skip
    with pytest.raises(FileNotFoundError, match="experiment=table2"):
        instantiate(ev.task)(ev)


def test_sweep_is_datasets_times_kernels_and_every_cell_has_a_grid(tmp_path):
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        full = compose("train", overrides=["experiment=table2_sweep"], return_hydra_config=True)
    assert str(full.hydra.mode).endswith("MULTIRUN") and "submitit" in full.hydra.launcher._target_
    params = OmegaConf.to_container(full.hydra.sweeper.params)
    parsed = OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in params.items()])
    cells = [(d, m) for d in parsed[0].sweep_string_iterator()
             for m in parsed[1].sweep_string_iterator()]  # fmt: skip
    assert len(cells) == 12 and full.solver.devices == "all"
    # a cell's kernel depends on the model only, its data on the dataset only
    diagonal = list(zip(["msd", "susy", "higgs", "msd"], sorted({m for _, m in cells})))
    for data, model in diagonal:
        c = compose_cfg("train", ["experiment=table2_sweep", f"data={data}", f"model={model}"],
                        tmp_path / f"{data}_{model}")  # fmt: skip
        assert c.task._target_.endswith("run_table2") and c.data._target_.endswith(
            f"{data.upper()}DataModule")  # fmt: skip
        assert c.solver._target_ == "nvk.solvers.FalkonSolver"
        # model=ntk is the arch's kernel; the study sweeps it as fc_ntk's config
        kc = kernel_model_form(c, DataInfo(data, (8,), 1, "regression"))
        assert largescale.kernel_name(kc.kernel) in c.task.grids

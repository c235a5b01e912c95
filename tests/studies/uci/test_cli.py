"""`python train.py -m experiment=uci_table1 ...` then `python evaluate.py task=uci_table`, as a
user types them (subprocesses, joblib launcher), on a synthetic collection; a rerun resumes."""

from __future__ import annotations

import pytest

from tests.conftest import compose_cfg
from tests.studies.uci.test_protocol import make_collection
from tests.test_cli import run


@pytest.mark.slow
def test_sweep_rerun_and_table_from_the_command_line(tmp_path):
    names = make_collection(tmp_path / "uci")[:2]
    logs = tmp_path / "logs"
    env = {"NVK_LOG_DIR": str(logs)}  # records, table and the sweep's own folders go there
    args = ["-m", "experiment=uci_table1", f"paths.uci_dir={tmp_path / 'uci'}",
            f"data.name={','.join(names)}", "uci_classifier=laplace,h_laplace",
            "uci_classifier.grid=[{c:[0.5,2.0]}]", "uci_classifier.C=[1.0]",
            "hydra.launcher.n_jobs=2"]  # fmt: skip
    r = run("train.py", *args, env=env)
    assert list((logs / "uci_table1" / "multiruns").glob("*/0"))
    records = logs / "uci_table1" / "records"
    files = sorted(p for p in records.rglob("*.json") if "_runs" not in p.parts)
    assert len(files) == 4, r.stdout
    before = {p: p.read_bytes() for p in files}
    r = run("train.py", *args, env=env)  # everything done: skipped, nothing rewritten
    assert {p: p.read_bytes() for p in files} == before
    assert r.stdout.count("[nvk] uci ") == 4
    r = run("evaluate.py", "task=uci_table", env=env)
    table = logs / "uci_table1" / "table"
    assert "| h_laplace |" in (table / "table.md").read_text() and "Friedman rank" in r.stdout
    assert (table / "cd_diagram.png").is_file()
    assert not (table / "figure3.png").exists()  # no ntk here: the default pair is absent
    # logged like train.py (task=uci_table defaults to logger=many) into evaluate's run dir
    assert list(logs.glob("eval/runs/*/wandb/offline-run-*")), "no offline W&B run"
    assert list(logs.glob("eval/runs/*/csv/metrics.csv"))


@pytest.mark.parametrize("launcher", ["basic", "joblib", "submitit_slurm", "submitit_local"])
def test_experiment_composes_with_every_launcher(launcher, tmp_path):
    cfg = compose_cfg("train", ["experiment=uci_table1", f"hydra/launcher={launcher}"], tmp_path)
    assert cfg.task._target_.endswith("cell_task") and cfg.optimized_metric is None

"""experiment=frequency_width: a finite network approaches its NTK twin as it widens; the sweep
keeps its records, resumes, refuses foreign records and writes its table and figure."""

from __future__ import annotations

import json
import math

import pytest
import torch

from nvk.arch import ArchSpec
from nvk.kernels.fc import fc_ntk_from_arch
from nvk.nets.mlp import MLP
from nvk.studies.frequency.dynamics import (
    HarmonicProjector,
    fit_power,
    kernel_curves,
    network_curves,
)
from nvk.studies.frequency.study import FrequencyOptions, run_frequency
from nvk.studies.frequency.width import load_width_records, width_table_files
from tests.studies.frequency.test_dynamics import _circle
from tests.test_cli import run

KS = [1, 2, 3, 4, 6, 8]


def _network_vs_twin(width: int, dtype: torch.dtype = torch.float64, seed: int = 0) -> dict:
    """The study's dynamics at a small size (32 points on S¹, k ≤ 8, 0.01-size targets)."""
    x, y = _circle(32, KS, amp=0.01)
    arch = ArchSpec(depth=3, width=width)
    proj = HarmonicProjector(x.numpy(), max(KS))
    K = fc_ntk_from_arch(arch)(x, x)
    torch.manual_seed(seed)
    net = MLP(arch, 2, 1).to(dtype)
    c = network_curves(net, x.to(dtype), y.to(dtype), proj, KS, max_steps=3000, reference_ntk=K)
    twin = kernel_curves(K, y, proj, KS, max_steps=3000)
    assert all(v is not None for v in c.counts), (width, c.counts)
    return {
        "counts": c.counts,
        "twin": twin.counts,
        # mean |log(steps_net / steps_twin)| over the frequencies: how far the counts are
        "count_gap": sum(abs(math.log(a / b)) for a, b in zip(c.counts, twin.counts)) / len(KS),
        "exponent_gap": fit_power(KS, c.counts, kmin=3)["exponent"]
        - fit_power(KS, twin.counts, kmin=3)["exponent"],
        "change": c.extra["ntk_relative_change"],
    }


def test_network_approaches_its_ntk_twin_as_it_widens() -> None:
    # measured (seed 0): width 32 count gap ~0.9 (k=1 takes 51 steps, the twin's 3), NTK change
    # 6 %; width 1024: count gap < 0.1, exponent gap < 0.1, NTK change < 1 %
    narrow, wide = _network_vs_twin(32), _network_vs_twin(1024)
    assert wide["count_gap"] < narrow["count_gap"] / 3
    assert wide["change"] < narrow["change"] / 3
    assert abs(wide["exponent_gap"]) < 0.3 and wide["count_gap"] < 0.2


def test_float32_does_not_change_the_counts() -> None:
    # the width sweep's dtype choice (docs/frequency.md): the same net (same init) in float32
    a, b = _network_vs_twin(512), _network_vs_twin(512, torch.float32)
    for c64, c32 in zip(a["counts"], b["counts"]):
        assert abs(c32 - c64) <= 0.03 * c64 + 1, (a["counts"], b["counts"])


SWEEP = ["data.n=24", "data.frequencies=[1,2,4]", "data.amplitudes=[0.01,0.01,0.01]",
         "task.max_steps=200", "task.n_log=8", "task.fit_kmin=1", "logger=csv",
         "trainer=cpu"]  # fmt: skip


def test_width_sweep_writes_table_and_resumes(tmp_path) -> None:
    records, logs = tmp_path / "records", tmp_path / "logs"
    args = ["-m", "experiment=frequency_width", "arch.width=16,64", *SWEEP,
            f"task.records_dir={records}", f"paths.log_dir={logs}"]  # fmt: skip
    run("train.py", *args)
    files = sorted(p.name for p in records.glob("*.json"))
    assert files == ["mlp_wide-width16.json", "mlp_wide-width64.json"]
    table = json.loads((tmp_path / "table" / "frequency_width.json").read_text())
    assert [r["width"] for r in table["rows"]] == [16, 64]
    assert table["references"]["laplace"] > 0 and (tmp_path / "table/frequency_width.png").is_file()
    assert "| 64 |" in (tmp_path / "table" / "frequency_width.md").read_text()
    # rerun: both widths reused (not trained again); a damaged record is set aside, recomputed
    mtime = (records / "mlp_wide-width64.json").stat().st_mtime_ns
    (records / "mlp_wide-width16.json").write_text('{"name": "mlp_wi')
    r = run("train.py", *args)
    assert (records / "mlp_wide-width64.json").stat().st_mtime_ns == mtime
    assert "reusing the finished record" in r.stdout + r.stderr
    assert list(records.glob("mlp_wide-width16.json.damaged-*"))
    again = json.loads((records / "mlp_wide-width16.json").read_text())
    first = json.loads((tmp_path / "table" / "frequency_width.json").read_text())["rows"][0]
    assert again["curves"]["counts"] == first["counts"]  # the same seed: the same run
    # the table again, from evaluate.py, into another folder
    out = tmp_path / "again"
    run("evaluate.py", "task=frequency_width", f"task.records_dir={records}",
        f"task.out_dir={out}", f"paths.log_dir={logs}")  # fmt: skip
    rerun = json.loads((tmp_path / "table" / "frequency_width.json").read_text())
    assert json.loads((out / "frequency_width.json").read_text()) == rerun


def test_records_of_another_spec_are_refused(cfg_train, tmp_path) -> None:
    records = str(tmp_path / "records")
    small = ["experiment=frequency", *SWEEP[:-2], "arch.width=16"]
    run_frequency(cfg_train(*small), records_dir=records)
    with pytest.raises(ValueError, match="another spec"):
        run_frequency(cfg_train(*small, "task.threshold=0.2"), records_dir=records)


def test_bad_dtype_and_empty_records(tmp_path) -> None:
    with pytest.raises(ValueError, match="float64, float32"):
        FrequencyOptions(dtype="float16")
    with pytest.raises(FileNotFoundError, match="experiment=frequency_width"):
        load_width_records(tmp_path)
    with pytest.raises(FileNotFoundError):
        width_table_files(tmp_path)

"""The committed records stay valid under the one arch vocabulary: composing today's configs gives
the specs (hence the hashes) those records were made with, so a rerun reuses them instead of
refusing them or training again. Covered: every width of results/frequency_width (model=mlp_wide,
now reading arch.width), the CIFAR-10 FC NTK row (model=ntk, now the arch's kernel: the fused
fc_ntk) and the MLP and CNN rows (model=mlp|cnn, now reading the arch)."""

from __future__ import annotations

import copy
import json

import pytest
from omegaconf import open_dict

from nvk.data.base import DataInfo
from nvk.studies.cifar.cell import kernel_spec
from nvk.studies.cifar.records import spec_hash as cifar_spec_hash
from nvk.studies.common import model_spec, task_options
from nvk.studies.frequency.records import VERSION, record_spec
from nvk.studies.frequency.study import FrequencyOptions
from tests.conftest import ROOT, compose_cfg

FREQ = sorted((ROOT / "results" / "frequency_width" / "records").glob("*.json"))
CIFAR = ROOT / "results" / "cifar_table3" / "records"
CIFAR_INFO = DataInfo("cifar10", (3, 32, 32), 10, "classification")


@pytest.mark.parametrize("path", FREQ, ids=lambda p: p.stem)
def test_frequency_width_records_keep_their_spec(path, tmp_path) -> None:
    from nvk.studies.common import spec_hash

    rec = json.loads(path.read_text())
    width = rec["arch"]["width"]
    cfg = compose_cfg("train", ["experiment=frequency", f"arch.width={width}"], tmp_path)
    spec = record_spec(cfg, task_options(cfg, FrequencyOptions, ("records_dir",)))
    assert spec == rec["spec"] and spec_hash(spec, VERSION) == rec["spec_hash"]


def test_cifar_fc_ntk_row_keeps_its_kernel_spec(tmp_path) -> None:
    rec = json.loads((CIFAR / "ntk.json").read_text())
    cfg = compose_cfg("train", ["experiment=cifar_table3", "model=ntk"], tmp_path,
                      hydra_cfg=False)  # fmt: skip
    assert cfg.get("kernel") is None  # the arch's kernel, not conf/kernel/fc_ntk.yaml
    assert kernel_spec(cfg, CIFAR_INFO) == rec["spec"]["kernel"]
    assert cifar_spec_hash(rec["spec"]) == rec["spec_hash"]


@pytest.mark.parametrize(
    ("model", "point"),
    [("mlp", {"width": 512}), ("mlp", {"width": 2048}), ("cnn", {"depth": 5, "channels": 8}),
     ("cnn", {"depth": 5, "channels": 16}), ("cnn", {"depth": 5, "channels": 32})],
)  # fmt: skip
def test_cifar_network_rows_keep_their_model_spec(model, point, tmp_path) -> None:
    row = model + "".join(f"_{k}{v}" for k, v in point.items())
    rec = json.loads((CIFAR / f"{row}.json").read_text())
    cfg = compose_cfg("train", ["experiment=cifar_table3", f"model={model}"], tmp_path,
                      hydra_cfg=False)  # fmt: skip
    run_cfg = copy.deepcopy(cfg)
    with open_dict(run_cfg):
        for k, v in point.items():
            run_cfg.model[k] = v  # what the row does with its grid point
    assert model_spec(run_cfg.model) == rec["spec"]["model"]

import json
import os

import pytest
from omegaconf import OmegaConf

from nvk.utils import atomic_write_json, atomic_write_text, config_hash, git_state, read_json


def test_atomic_write_roundtrip_and_no_temp_files(tmp_path):
    p = atomic_write_json(tmp_path / "sub" / "r.json", {"b": 1, "a": [1.5, None]})
    assert read_json(p) == {"a": [1.5, None], "b": 1}
    assert os.listdir(p.parent) == ["r.json"]


def test_failed_write_keeps_the_old_record_whole(tmp_path, monkeypatch):
    p = tmp_path / "r.json"
    atomic_write_json(p, {"v": 1})

    def crash(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_text(p, json.dumps({"v": 2}))
    assert read_json(p) == {"v": 1}
    assert os.listdir(tmp_path) == ["r.json"]  # temporary file cleaned up


def test_config_hash_ignores_paths_but_not_the_experiment():
    a = OmegaConf.create({"model": {"width": 64}, "paths": {"output_dir": "/x"}})
    b = OmegaConf.create({"model": {"width": 64}, "paths": {"output_dir": "/y"}})
    c = OmegaConf.create({"model": {"width": 65}, "paths": {"output_dir": "/x"}})
    assert config_hash(a) == config_hash(b) != config_hash(c)


def test_git_state_outside_a_repository_is_none(tmp_path):
    assert git_state(tmp_path)["commit"] is None


def test_atomic_write_gives_the_umask_permissions_of_a_plain_open(tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    atomic = atomic_write_text(tmp_path / "atomic.txt", "x")
    assert atomic.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777

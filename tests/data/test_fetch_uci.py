"""scripts/fetch_uci.sh installs an archive in the collection's layout (offline, --archive)."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from nvk.data import available_datasets, load_uci
from tests.conftest import ROOT
from tests.data.uci_fixture import random_uci_dataset

SCRIPT = ROOT / "scripts" / "fetch_uci.sh"


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_fetch_uci_installs_a_local_archive(tmp_path: Path) -> None:
    src = tmp_path / "src" / "data"  # the archive's top folder
    x, *_ = random_uci_dataset(src, "iris")
    random_uci_dataset(src, "toy", seed=1)
    archive = tmp_path / "data.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src, arcname="data")
    dest = tmp_path / "uci"
    run = [str(SCRIPT), "--archive", str(archive), str(dest)]
    out = subprocess.run(run, capture_output=True, text=True, check=True).stdout
    assert "2 dataset folders" in out and "2 in the benchmark" in out
    assert available_datasets(dest) == ["iris", "toy"]
    assert load_uci(dest, "iris").x.shape == x.shape
    again = subprocess.run(run, capture_output=True, text=True, check=True).stdout
    assert "nothing to do" in again
    bad = subprocess.run(
        [str(SCRIPT), "--archive", str(tmp_path / "no.tar.gz"), str(tmp_path / "u2")],
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0 and "not found" in bad.stderr

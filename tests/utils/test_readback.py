"""Files the project reads back (Gram blocks, their meta.json, parsed large-scale caches,
checkpoints, study parts) are checked on read: a damaged one is named, moved aside (never
deleted) and recomputed, and the result equals an undamaged run's."""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from nvk.data.largescale import MSD, load_rows
from nvk.kernels.fc import fc_ntk
from nvk.kernels.gram import assemble_gram, gram, gram_part
from nvk.run import resume_checkpoint
from nvk.utils.io import (
    DAMAGED,
    DamagedFileError,
    check_archive,
    read_checked,
    require_keys,
)
from tests.data import largescale_fixture


def truncate(path: Path, keep: float = 0.5) -> bytes:
    """Cut `path` to a fraction of its bytes (a full disk, a bad copy); return the original."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return data


def flip_bit(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data))


def set_aside_copies(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f"{path.name}{DAMAGED}-*"))


def test_read_checked_sets_aside_keeps_or_raises(tmp_path, caplog):
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text('{"a": 1}')
    bad.write_text('{"a": ')
    assert read_checked(good, check=lambda d: require_keys(d, ("a",))) == {"a": 1}
    assert read_checked(tmp_path / "absent.json") is None
    with caplog.at_level(logging.WARNING, logger="nvk"):
        assert read_checked(bad, keep=True) is None  # named, left where it is
    assert bad.is_file() and str(bad) in caplog.text
    with caplog.at_level(logging.WARNING, logger="nvk"):
        assert read_checked(bad) is None
    (moved,) = set_aside_copies(bad)
    assert not bad.exists() and moved.read_text() == '{"a": '  # kept byte for byte
    assert "moved aside" in caplog.text and moved.name in caplog.text
    bad.write_text('{"b": 2}')  # parses, but lacks a field: damaged as well
    assert read_checked(bad, check=lambda d: require_keys(d, ("a",))) is None
    assert len(set_aside_copies(bad)) == 2  # a second copy never overwrites the first


def _x(n: int = 40) -> torch.Tensor:
    return torch.randn(n, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


@pytest.mark.parametrize("damage", [truncate, flip_bit])
def test_damaged_gram_block_is_named_set_aside_and_recomputed(tmp_path, caplog, damage):
    kernel, x, cache = functools.partial(fc_ntk, depth=3), _x(), tmp_path / "cache"
    ref = gram(kernel, x, tile=16, cache_dir=cache)
    blocks = sorted(cache.glob("*/r*_c*.pt"))
    victim = next(p for p in blocks if p.name == "r16_c32.pt")
    others = {p: p.stat().st_mtime_ns for p in blocks if p != victim}
    damage(victim)
    with caplog.at_level(logging.WARNING, logger="nvk"):
        again = gram(kernel, x, tile=16, cache_dir=cache)
    assert torch.equal(again, ref)
    assert str(victim) in caplog.text and "damaged" in caplog.text
    assert len(set_aside_copies(victim)) == 1 and victim.is_file()  # aside + recomputed
    assert all(p.stat().st_mtime_ns == t for p, t in others.items())  # the rest untouched


def test_gram_block_of_the_wrong_shape_is_damaged(tmp_path):
    kernel, x, cache = functools.partial(fc_ntk, depth=2), _x(), tmp_path / "cache"
    ref = gram(kernel, x, tile=16, cache_dir=cache)
    (victim,) = cache.glob("*/r0_c16.pt")
    torch.save(torch.zeros(3, 3, dtype=torch.float64), victim)  # a valid file, wrong content
    assert torch.equal(gram(kernel, x, tile=16, cache_dir=cache), ref)
    assert len(set_aside_copies(victim)) == 1


def test_assemble_reports_damaged_blocks_and_the_job_redoes_them(tmp_path):
    kernel, x, cache = functools.partial(fc_ntk, depth=2), _x(), tmp_path / "cache"
    folder = None
    for job in range(2):
        folder = gram_part(kernel, x, job=job, jobs=2, cache_dir=cache, tile=16)
    meta = folder / "meta.json"
    truncate(folder / "r0_c16.pt")
    with pytest.raises(FileNotFoundError, match=r"missing or damaged.*r0_c16\.pt"):
        assemble_gram(folder, tmp_path / "K.npy")
    assert not (tmp_path / "K.npy").exists() and not list(tmp_path.glob(".K.npy*"))
    truncate(meta)  # a damaged meta.json is rewritten by the next job
    for job in range(2):
        gram_part(kernel, x, job=job, jobs=2, cache_dir=cache, tile=16)
    assert len(set_aside_copies(meta)) == 1
    K = assemble_gram(folder, tmp_path / "K.npy")
    np.testing.assert_array_equal(K, gram(kernel, x, tile=16).numpy())


def test_damaged_parsed_cache_is_parsed_again(tmp_path, caplog):
    path, rows = largescale_fixture.write(tmp_path / "data", "msd", 30)
    cache = tmp_path / "cache"
    first = np.array(load_rows(path, MSD, cache_dir=cache, progress=False))
    (npy,) = cache.glob("*.npy")
    truncate(npy, 0.6)
    with caplog.at_level(logging.WARNING, logger="nvk"):
        again = load_rows(path, MSD, cache_dir=cache, progress=False)
    np.testing.assert_array_equal(np.asarray(again), first)
    np.testing.assert_allclose(first, rows.astype(np.float32))
    assert str(npy) in caplog.text and len(set_aside_copies(npy)) == 1 and npy.is_file()
    np.testing.assert_array_equal(load_rows(path, MSD, cache_dir=cache, progress=False), first)


def test_checkpoints_are_checked_before_resuming(tmp_path, caplog):
    ckpt = tmp_path / "last.ckpt"
    torch.save({"state_dict": {"w": torch.ones(64, 64)}, "epoch": 3}, ckpt)
    check_archive(ckpt)  # intact: passes
    assert resume_checkpoint(str(ckpt)) == str(ckpt)
    assert resume_checkpoint(None) is None
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        resume_checkpoint(str(tmp_path / "absent.ckpt"))
    flip_bit(ckpt)
    with pytest.raises(DamagedFileError, match="checksum mismatch"):
        check_archive(ckpt)
    with caplog.at_level(logging.WARNING, logger="nvk"):
        assert resume_checkpoint(str(ckpt)) is None  # set aside: training starts again
    assert str(ckpt) in caplog.text and "from the beginning" in caplog.text
    assert not ckpt.exists() and len(set_aside_copies(ckpt)) == 1

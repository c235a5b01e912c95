import pytest
import torch

from nvk.solvers.memory import available_bytes, check_gram_memory, gram_bytes


def test_gram_bytes_counts_elements_and_copies():
    assert gram_bytes(1000, 500, torch.float64, copies=1) == 1000 * 500 * 8
    assert gram_bytes(10, 10, torch.float32, copies=2) == 800


def test_available_memory_is_positive():
    assert available_bytes("cpu") > 0


def test_too_large_gram_stops_with_advice():
    with pytest.raises(MemoryError, match=r"data\.subset.*solver=falkon"):
        check_gram_memory(2_000_000, dtype=torch.float64)
    assert check_gram_memory(100, budget=10**6) == gram_bytes(100, 100)
    with pytest.raises(MemoryError, match="100 x 100"):
        check_gram_memory(100, budget=1000)


def test_refusal_names_the_largest_subset_that_fits():
    have = 24 * 2**30  # the CI machine: the full CIFAR-10 FC NTK (49 000 training images)
    with pytest.raises(MemoryError) as e:
        check_gram_memory(49_000, budget=have)
    msg = str(e.value)
    assert "35.8 GiB" in msg and "24.0 GiB" in msg and "nothing was computed" in msg
    fits = int(msg.split("data.subset=")[1].split(")")[0])
    assert gram_bytes(fits, fits) <= have < gram_bytes(fits + 1, fits + 1)
    assert "solver=falkon solver.centers=" in msg


def test_full_cifar10_ntk_is_refused_before_any_kernel_value(cfg_train, tmp_path, monkeypatch):
    """`python train.py model=ntk data=cifar10` on a machine too small for its Gram matrix: a
    fake memory size (the tiny CIFAR folder stands in for 50 000 images) makes the run stop at
    the check, before the kernel computes anything, with the memory it needs and what fits."""
    import nvk.solvers.memory as memory
    from nvk.run import train
    from tests.data.cifar_fixture import write_tiny_cifar10

    write_tiny_cifar10(tmp_path / "cifar")
    monkeypatch.setattr(memory, "available_bytes", lambda device="cpu": 4000)  # < 20² x 8 x 2
    calls = []
    monkeypatch.setattr("nvk.kernels.fc_ntk", lambda *a, **k: calls.append(1))
    cfg = cfg_train("model=ntk", "data=cifar10", f"paths.cifar_dir={tmp_path / 'cifar'}",
                    "data.subset=20", "data.val_size=5")  # fmt: skip
    with pytest.raises(MemoryError, match=r"a 20 x 20 float64 Gram matrix needs.*solver=falkon"):
        train(cfg)
    assert calls == []

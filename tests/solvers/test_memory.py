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

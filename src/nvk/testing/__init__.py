"""Public test helpers: `KernelContract`, the contract every GPyTorch kernel should pass."""

from nvk.testing.kernel_contract import KernelContract, dense

__all__ = ["KernelContract", "dense"]

"""Plain `nn.Module` networks built from `nvk.arch.ArchSpec`."""

from nvk.nets.mlp import MLP, NTKLinear

__all__ = ["MLP", "NTKLinear"]

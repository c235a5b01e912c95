"""Plain `nn.Module` networks built from `nvk.arch.ArchSpec` / `ConvSpec`."""

from nvk.nets.cnn import CNN, NTKConv2d
from nvk.nets.mlp import MLP, NTKLinear

__all__ = ["CNN", "MLP", "NTKConv2d", "NTKLinear"]

"""Solvers on kernel values (Gram matrices or kernel callables) + small option dataclasses."""

from nvk.solvers.base import HasFormula, KernelValues, Solver, kernel_formula
from nvk.solvers.falkon import (
    FalkonFit,
    FalkonOptions,
    FalkonSolver,
    conjugate_gradient,
    falkon_fit,
    falkon_predict,
)
from nvk.solvers.gp import GPOptions, GPSolver
from nvk.solvers.kernel_gd import (
    KernelGDOptions,
    KernelGDSolver,
    kernel_gd_closed_form,
    kernel_gd_iterate,
)
from nvk.solvers.krr import (
    KRRFit,
    KRROptions,
    KRRSolver,
    gcv_scores,
    krr_fit,
    krr_predict,
    select_ridge_val,
)
from nvk.solvers.linalg import cholesky_jitter
from nvk.solvers.svc import SVCOptions, SVCSolver, svc_fit, svc_scores
from nvk.solvers.targets import encode_targets

__all__ = [
    "FalkonFit",
    "FalkonOptions",
    "FalkonSolver",
    "GPOptions",
    "GPSolver",
    "HasFormula",
    "KRRFit",
    "KRROptions",
    "KRRSolver",
    "KernelGDOptions",
    "KernelGDSolver",
    "KernelValues",
    "SVCOptions",
    "SVCSolver",
    "Solver",
    "cholesky_jitter",
    "conjugate_gradient",
    "encode_targets",
    "falkon_fit",
    "falkon_predict",
    "gcv_scores",
    "kernel_formula",
    "kernel_gd_closed_form",
    "kernel_gd_iterate",
    "krr_fit",
    "krr_predict",
    "select_ridge_val",
    "svc_fit",
    "svc_scores",
]

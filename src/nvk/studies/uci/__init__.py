"""The UCI benchmark protocol (Arora et al. 2020; Geifman et al. 2020, Table 1 and Figure 3).

| module | what |
|---|---|
| `classifiers` | a classifier = hyperparameter settings + accuracy on (train, test) rows |
| `protocol` | tune on `conxuntos.dat`, report the mean of the four folds; the sweep task |
| `records` | one deterministic JSON record per (dataset, classifier), atomic, skip-if-done |
| `table` | Friedman ranks, accuracy, P90, P95, PMA, Wilcoxon, Friedman + Nemenyi; the table task |
| `figures` | Figure 3 (NTK vs H-Laplace per dataset) and the critical-difference diagram |

User guide: docs/uci.md.
"""

from nvk.studies.uci.classifiers import FeatureClassifier, KernelSVC, MLPEstimator, expand_grid
from nvk.studies.uci.protocol import run_cell
from nvk.studies.uci.records import load_records, record_path
from nvk.studies.uci.table import table1

__all__ = [
    "FeatureClassifier",
    "KernelSVC",
    "MLPEstimator",
    "expand_grid",
    "load_records",
    "record_path",
    "run_cell",
    "table1",
]

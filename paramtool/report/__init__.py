"""Reports as plain data: inventories (rows, ties, totals), trees, statistics, comparisons.

Nothing here prints; :mod:`paramtool.cli` renders these objects as tables or JSON. The
comparisons (:mod:`paramtool.report.compare`, which loads the nn core) are imported when first
used: reading a checkpoint never needs them.
"""

from paramtool.core.lazy import lazy_names
from paramtool.report.inventory import (
    BUFFER,
    PARAMETER,
    TENSOR,
    Inventory,
    TensorRow,
    Totals,
    compute_totals,
    from_checkpoint,
    from_module,
)
from paramtool.report.open import is_model_file, open_checkpoint, open_inventory
from paramtool.report.stats import (
    StatsTable,
    TensorStats,
    inventory_stats,
    non_finite,
    stats_columns,
    tensor_stats,
)
from paramtool.report.tree import TreeNode, build_tree

__all__ = [
    "BUFFER",
    "PARAMETER",
    "TENSOR",
    "Diff",
    "Inventory",
    "LoadCheck",
    "Mismatch",
    "TensorDiff",
    "TensorRow",
    "StatsTable",
    "TensorStats",
    "Totals",
    "TreeNode",
    "build_tree",
    "check_load",
    "compare_values",
    "compute_totals",
    "default_tolerance",
    "diff",
    "from_checkpoint",
    "from_module",
    "inventory_stats",
    "non_finite",
    "stats_columns",
    "is_model_file",
    "open_checkpoint",
    "open_inventory",
    "tensor_stats",
]


#: Names of :mod:`paramtool.report.compare`, imported on first use.
_COMPARE = ("Diff", "LoadCheck", "Mismatch", "TensorDiff", "check_load", "compare_values", "default_tolerance", "diff")  # fmt: skip


__getattr__ = lazy_names(__name__, "paramtool.report.compare", _COMPARE)

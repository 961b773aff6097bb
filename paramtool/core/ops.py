"""The tensor functions of the top-level namespace (``paramtool.exp``, ``paramtool.cat``, ...),
gathered from the op modules. Each is also a Tensor method where PyTorch has one."""

from __future__ import annotations

from paramtool.core import (
    ops_index,
    ops_join,
    ops_linalg,
    ops_pointwise,
    ops_reduce,
    ops_select,
    ops_shape,
    ops_unary,
)
from paramtool.core.ops_index import *  # noqa: F403
from paramtool.core.ops_join import *  # noqa: F403
from paramtool.core.ops_linalg import *  # noqa: F403
from paramtool.core.ops_pointwise import *  # noqa: F403
from paramtool.core.ops_reduce import *  # noqa: F403
from paramtool.core.ops_select import *  # noqa: F403
from paramtool.core.ops_shape import *  # noqa: F403
from paramtool.core.ops_unary import *  # noqa: F403

_MODULES = (ops_index, ops_join, ops_linalg, ops_pointwise, ops_reduce, ops_select, ops_shape,
            ops_unary)  # fmt: skip
__all__ = sorted({name for module in _MODULES for name in module.__all__})

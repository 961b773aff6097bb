"""The tensor functions of the top-level namespace (``paramtool.exp``, ``paramtool.cat``, ...),
gathered from the op modules. Each is also a Tensor method where PyTorch has one."""

from __future__ import annotations

from paramtool.core import ops_index, ops_linalg, ops_pointwise, ops_reduce, ops_shape, ops_unary
from paramtool.core.ops_index import *  # noqa: F403
from paramtool.core.ops_linalg import *  # noqa: F403
from paramtool.core.ops_pointwise import *  # noqa: F403
from paramtool.core.ops_reduce import *  # noqa: F403
from paramtool.core.ops_shape import *  # noqa: F403
from paramtool.core.ops_unary import *  # noqa: F403

__all__ = sorted(
    set(ops_index.__all__ + ops_linalg.__all__ + ops_pointwise.__all__ + ops_reduce.__all__
        + ops_shape.__all__ + ops_unary.__all__)
)  # fmt: skip

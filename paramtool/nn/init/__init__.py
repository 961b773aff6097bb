"""``paramtool.nn.init``: initialisation has one home.

- ``fan``: fans and gains (PyTorch's conventions);
- ``functions``: the ``torch.nn.init`` family (what ``torch.nn.init`` gives a model file);
- ``variance_scaling``: the Keras/JAX family on the same formulas;
- ``schemes``: named schemes and ``--rule`` rules applied to a whole model.

May import ``paramtool.core`` and ``paramtool.nn``'s Module/Parameter; nothing above ``nn``.
"""

from __future__ import annotations

from paramtool.nn.init.functions import *  # noqa: F403

# torch.nn.init's private fan helpers (model files call them) and PyTorch's deprecated names
from paramtool.nn.init.functions import (  # noqa: F401
    __all__,
    _calculate_correct_fan,
    _calculate_fan_in_and_fan_out,
    constant,
    dirac,
    eye,
    kaiming_normal,
    kaiming_uniform,
    normal,
    orthogonal,
    sparse,
    uniform,
    xavier_normal,
    xavier_uniform,
)

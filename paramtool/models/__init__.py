"""Model sources: running a model file (and its ``--arg``/``--config``), finding the model in it.

May import ``paramtool.core``, ``paramtool.nn`` and ``paramtool.checkpoint``; never ``report``,
``export`` or ``cli``.
"""

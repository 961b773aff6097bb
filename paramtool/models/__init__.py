"""Model sources: running a model file (and its ``--arg``/``--config``), finding the model in it.

``loader`` finds and builds the model; ``runner`` runs the file as ``python model.py`` would,
containing what it can do to the run; ``torch_scope`` gives its ``import torch`` paramtool's
namespace (``paramtool.torch``) and restores ``sys.modules`` after; ``conventions`` follows the
layout of public model files (root class, config objects); ``structure`` refuses cyclic or too
deep module trees; ``pytorch`` and ``sources`` build models with the installed PyTorch.

May import ``paramtool.core``, ``paramtool.nn``, ``paramtool.torch`` and
``paramtool.checkpoint``; never ``report``, ``export`` or ``cli``.
"""

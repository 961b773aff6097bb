"""``torch.backends`` and ``torch.backends.cudnn``: the flags model files set and read.

Setting a flag (``torch.backends.cudnn.benchmark = True``) is accepted and changes nothing:
these are speed settings of PyTorch's kernels, not properties of a model's parameters.
"""

from __future__ import annotations

from types import SimpleNamespace

# torch.backends.cudnn.<flag> (this module also serves as ``torch.backends.cudnn``)
enabled = True
benchmark = False
deterministic = False
allow_tf32 = True


def is_available() -> bool:
    """cuDNN is not used by paramtool."""
    return False


def version() -> None:
    """No cuDNN version."""
    return None


cuda = SimpleNamespace(
    matmul=SimpleNamespace(allow_tf32=False, allow_fp16_reduced_precision_reduction=True),
    is_built=lambda: False,
    enable_flash_sdp=lambda enabled: None,
    enable_mem_efficient_sdp=lambda enabled: None,
    enable_math_sdp=lambda enabled: None,
    flash_sdp_enabled=lambda: False,
)
mps = SimpleNamespace(is_available=lambda: False, is_built=lambda: False)
mkldnn = SimpleNamespace(is_available=lambda: False, enabled=False)
openmp = SimpleNamespace(is_available=lambda: False)


def __getattr__(name: str) -> object:
    if name == "cudnn":
        import sys  # noqa: PLC0415

        return sys.modules[__name__]
    raise AttributeError(name)

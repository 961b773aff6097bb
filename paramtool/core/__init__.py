"""The tensor core: Tensor and its ops and printing, autograd switches, dtypes, devices
(numpy | cupy, chosen through an array module ``xp``), counter-based random streams, and the
recipes that deferred tensors carry.

The lowest layer: imports only ``paramtool.errors``, numpy and (lazily) ml_dtypes/cupy.
"""

"""Memory estimates: the bytes to hold a model for inference, and to train it with Adam.

Computed from an :class:`~paramtool.report.inventory.Inventory` alone (shapes and dtypes), so a
model file, an ``hf:`` config or a checkpoint's headers all give one, and nothing is allocated.
Tied tensors count once. With ``P`` parameter elements (``T`` of them trainable) and ``B`` the
bytes of the buffers at their own dtype (a checkpoint's floating-point tensors count as
trainable parameters, its integer and bool tensors as buffers):

* inference in dtype ``d`` (``b`` bytes per element: float32 4, bfloat16 and float16 2, int8 1,
  int4 0.5): ``P * b + B``;
* training with Adam in float32: weights, gradients and Adam's two moments (``exp_avg``,
  ``exp_avg_sq``), ``4P + 4T + 8T + B`` (16 bytes per trainable parameter);
* mixed-precision training with Adam in bfloat16 or float16: half-precision weights and
  gradients, a float32 master copy and the two float32 moments, ``2P + 2T + 4T + 8T + B``
  (16 bytes per trainable parameter, the 2 + 2 + 12 of Rajbhandari et al. 2020, "ZeRO",
  section 3.1). Training is not estimated for int8/int4.

Activations, the CUDA context and allocator fragmentation are not included: like ``accelerate
estimate-memory``, these are lower bounds for loading and optimiser state. The largest layer is
the module whose own tensors (parameters at the dtype, buffers at theirs) take the most bytes,
e.g. an embedding matrix: what must fit at once when a model is offloaded layer by layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from paramtool.core.dtypes import as_dtype, is_floating_point
from paramtool.report.inventory import BUFFER, PARAMETER, Inventory, TensorRow

#: Bytes per element of each dtype a model can be held in (int4 packs two per byte).
DTYPE_BYTES: dict[str, float] = {
    "float32": 4,
    "bfloat16": 2,
    "float16": 2,
    "int8": 1,
    "int4": 0.5,
}
#: Dtypes a model can be trained in with Adam (half precision: mixed, float32 master copy).
TRAINING_DTYPES = ("float32", "bfloat16", "float16")


@dataclass(frozen=True)
class LayerSize:
    """The tensors one module holds directly.

    Attributes:
        name: The module's dotted name (``""`` for the root).
        parameters: Elements of its parameters (ties counted at their canonical name).
        buffer_bytes: Bytes of its buffers, at their own dtype.
    """

    name: str
    parameters: int
    buffer_bytes: int

    def nbytes(self, dtype: str) -> int:
        """Bytes with parameters in ``dtype``."""
        return _bytes(self.parameters, dtype) + self.buffer_bytes


@dataclass(frozen=True)
class MemoryEstimate:
    """The memory to hold and train a model (see the module docs for the formulas).

    Attributes:
        parameters: Unique parameter elements.
        trainable: Of which trainable.
        buffer_bytes: Bytes of the unique buffers, at their own dtype.
        largest_layer: The module holding the most parameter elements directly.
    """

    parameters: int
    trainable: int
    buffer_bytes: int
    largest_layer: LayerSize | None

    def inference(self, dtype: str) -> int:
        """Bytes to hold the model with its parameters in ``dtype``."""
        return _bytes(self.parameters, dtype) + self.buffer_bytes

    def training(self, dtype: str) -> int | None:
        """Bytes of weights, gradients and Adam states for training in ``dtype`` (mixed
        precision with a float32 master copy for bfloat16/float16); None for int8/int4."""
        if dtype not in TRAINING_DTYPES:
            return None
        # float32: a gradient and two moments; half precision: a half gradient, a float32
        # master copy and two float32 moments
        per_trainable = 4 + 8 if dtype == "float32" else 2 + 4 + 8
        return self.inference(dtype) + per_trainable * self.trainable

    def rows(self) -> list[dict[str, Any]]:
        """One dict per dtype: ``dtype``, ``largest_layer``, ``inference``, ``training_adam``."""
        largest = self.largest_layer
        return [
            {
                "dtype": dtype,
                "largest_layer": largest.nbytes(dtype) if largest is not None else 0,
                "inference": self.inference(dtype),
                "training_adam": self.training(dtype),
            }
            for dtype in DTYPE_BYTES
        ]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        largest = self.largest_layer
        return {
            "parameters": self.parameters,
            "trainable": self.trainable,
            "buffer_bytes": self.buffer_bytes,
            "largest_layer": None
            if largest is None
            else {"name": largest.name, "parameters": largest.parameters},
            "by_dtype": self.rows(),
        }


def _bytes(elements: int, dtype: str) -> int:
    """Bytes of ``elements`` in ``dtype`` (int4 rounds up to whole bytes)."""
    per = DTYPE_BYTES[dtype]
    return int(elements * per) if per >= 1 else -(-elements // int(1 / per))


def _is_parameter(row: TensorRow) -> bool:
    """A model's parameter, or a checkpoint's floating-point tensor."""
    if row.kind in (PARAMETER, BUFFER):
        return row.kind == PARAMETER
    return is_floating_point(as_dtype(row.dtype))


def estimate_memory(inventory: Inventory) -> MemoryEstimate:
    """The memory estimate of a model or checkpoint, counting each tied tensor once.

    Args:
        inventory: What :func:`~paramtool.report.open.open_inventory` returns (unfiltered).

    Example:
        >>> estimate_memory(open_inventory("sample_models/gpt2.py")).inference("float32")
        ... # doctest: +SKIP
        497759232
    """
    parameters = trainable = buffer_bytes = 0
    layers: dict[str, list[int]] = {}
    for row in inventory.unique_rows():
        module = row.name.rpartition(".")[0]
        layer = layers.setdefault(module, [0, 0])
        if _is_parameter(row):
            parameters += row.numel
            trainable += row.numel if row.trainable is not False else 0
            layer[0] += row.numel
        else:
            buffer_bytes += row.nbytes
            layer[1] += row.nbytes
    largest = max(layers.items(), key=lambda kv: (kv[1][0], kv[1][1]), default=None)
    return MemoryEstimate(
        parameters=parameters,
        trainable=trainable,
        buffer_bytes=buffer_bytes,
        largest_layer=None if largest is None else LayerSize(largest[0], *largest[1]),
    )

"""paramtool's exception types.

The library raises these; the CLI maps them to exit codes in one place (``paramtool.cli``).
Exceptions that mirror a PyTorch error (a bad ``register_parameter`` call, a failed
``load_state_dict``) use PyTorch's own exception class and wording instead, so that code written
against ``torch.nn`` catches what it expects.
"""

from __future__ import annotations


class ParamtoolError(Exception):
    """Base class of every error a user can fix (bad file, bad argument, mismatch)."""


class DeviceError(ParamtoolError):
    """A device was asked for that this machine cannot provide (e.g. ``cuda`` without cupy)."""


class DTypeError(ParamtoolError):
    """An unknown dtype name, or a dtype a format or backend cannot hold."""


class InitError(ParamtoolError, ValueError):
    """Bad input to an initialisation function, scheme or rule."""


class CheckpointError(ParamtoolError):
    """A checkpoint that cannot be read: malformed, refused as unsafe, or of no known format."""


class SafetensorsError(CheckpointError):
    """A safetensors file that breaks the format, or a write that failed."""


class ModelLoadError(ParamtoolError):
    """A model definition file that cannot be run, or holds no model."""


class MissingTorchFeature(ModelLoadError):
    """A model file needs torch names paramtool's core lacks (``torchvision``, ``torch.fft``).

    ``names`` lists each one with the file and line that asked for it; with PyTorch installed,
    the file can be built by PyTorch instead.
    """

    def __init__(self, message: str, names: list | None = None) -> None:
        super().__init__(message)
        self.names = list(names or [])


class StateDictError(ParamtoolError, RuntimeError):
    """A state_dict that does not fit a model (missing, unexpected, size mismatch).

    Attributes:
        lines: The message's lines as PyTorch lays them out (a heading, then one line per
            problem), so that a renderer can fold them without confusing a line break inside
            a tensor's name with one between lines.
    """

    def __init__(self, *lines: str) -> None:
        super().__init__("\n\t".join(lines))
        self.lines = lines


class OutOfMemory(ParamtoolError, MemoryError):
    """A tensor's values do not fit in this machine's memory (still a ``MemoryError``)."""


class ExportError(ParamtoolError):
    """A checkpoint that cannot be written where or how it was asked for."""


class CheckError(ParamtoolError):
    """A signal check that cannot run as asked (no input shape, no vocabulary size, ...)."""

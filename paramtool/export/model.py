"""A model file as a source: build -> initialise -> load -> cast, once per process.

:class:`ModelRecipe` is everything that decides a model's values (file, entry, args, config,
scheme, rules, seed, ``--from`` checkpoint, dtype, device); :func:`prepare` carries it out, the
one path that ``init`` and ``export`` share. The seed is fixed when the recipe is made (the
global seed when none is given), so a worker process computes the very values this one would,
and the global seed is left as it was.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from paramtool import __version__
from paramtool.checkpoint import load_into, open_checkpoint
from paramtool.checkpoint.safetensors.writer import host_array
from paramtool.checkpoint.sharing import tie_groups
from paramtool.core import random as _random
from paramtool.core.device import as_device
from paramtool.core.dtypes import as_dtype, is_floating_point
from paramtool.errors import DTypeError
from paramtool.export.source import TensorSpec, digest, specs_of, ties_of
from paramtool.models.loader import DEFAULT_MODEL_FILE
from paramtool.models.runner import model_code
from paramtool.models.sources import absolute_target, open_model, target_label
from paramtool.nn.init.schemes import InitReport, apply_scheme


def float_dtype(name: str) -> np.dtype:
    """The dtype ``name`` gives; only floating-point dtypes convert a model.

    Raises:
        DTypeError: an unknown name, or an integer or bool dtype.
    """
    dtype = as_dtype(name)
    if not is_floating_point(dtype):
        raise DTypeError(f"--dtype {name}: only floating-point dtypes convert a model's tensors")
    return dtype


@dataclass(frozen=True)
class ModelRecipe:
    """What decides a model's values, as plain (picklable) data.

    Attributes:
        model_file: The model file.
        entry: The model object in the file, or None to find it.
        args: Constructor keyword arguments.
        config: A config dict for the constructor.
        scheme: An initialisation scheme, or None (each layer's default unless rules are given).
        rules: ``PATTERN=SCHEME`` overrides.
        seed: The seed of every value (None in the constructor: the global seed, fixed then).
        load_from: A checkpoint loaded into the model after initialising, or None.
        strict: Whether ``load_from`` must match names exactly.
        dtype: A floating-point dtype name the model is cast to last, or None.
        device: Where the model lives (``cpu``, ``cuda:N``), or None.
        torch: What runs the model file's ``import torch`` (``auto``, ``paramtool``,
            ``pytorch``).
    """

    model_file: str = DEFAULT_MODEL_FILE
    entry: str | None = None
    args: Mapping[str, Any] | None = None
    config: Mapping[str, Any] | None = None
    scheme: str | None = None
    rules: tuple[str, ...] = ()
    seed: int | None = None
    load_from: str | None = None
    strict: bool = True
    dtype: str | None = None
    device: str | None = None
    torch: str = "auto"

    def __post_init__(self) -> None:
        if self.seed is None:
            object.__setattr__(self, "seed", _random.initial_seed())
        if self.dtype is not None:
            float_dtype(self.dtype)
        if self.device is not None:
            as_device(self.device)

    def provenance(self) -> dict[str, str]:
        """What the values came from, as ``__metadata__`` entries."""
        meta = {
            "paramtool.version": __version__,
            "paramtool.model": target_label(self.model_file),
            "paramtool.scheme": self.scheme or "default",
            "paramtool.seed": str(self.seed),
        }
        if self.entry:
            meta["paramtool.entry"] = self.entry
        if self.args:
            meta["paramtool.args"] = " ".join(f"{k}={v!r}" for k, v in self.args.items())
        if self.rules:
            meta["paramtool.rules"] = " ".join(self.rules)
        if self.load_from is not None:
            meta["paramtool.from"] = Path(self.load_from).name
        if self.dtype is not None:
            meta["paramtool.dtype"] = str(self.dtype)
        return meta

    def fingerprint(self) -> str:
        """A digest of the recipe, the model file's bytes and the ``--from`` files' headers."""
        return digest(
            repr(self),
            _file_digest(Path(self.model_file)),
            _checkpoint_digest(self.load_from) if self.load_from else None,
        )

    def absolute(self) -> ModelRecipe:
        """The same recipe with absolute paths, for workers started in another folder."""
        return replace(
            self,
            model_file=absolute_target(self.model_file),
            load_from=os.path.abspath(self.load_from) if self.load_from else None,
        )


def _file_digest(path: Path) -> str | None:
    if not path.is_file():
        return None  # a FIFO is never opened; load_model reports what the path is
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None  # load_model reports the missing file


def _checkpoint_digest(path: str) -> list[Any]:
    checkpoint = open_checkpoint(path)
    return [(file.name, file.stat().st_size, file.stat().st_mtime_ns) for file in checkpoint.files]


@dataclass
class Prepared:
    """A built, initialised, loaded and cast model.

    Attributes:
        model: The Module (still deferred where nothing needed values).
        report: What the scheme and rules did, or None when neither was given.
    """

    model: Any
    report: InitReport | None
    _state: dict[str, Any] | None = field(default=None, repr=False)

    def state(self) -> dict[str, Any]:
        """The model's ``state_dict(keep_vars=True)``, taken once."""
        if self._state is None:
            self._state = self.model.state_dict(keep_vars=True)
        return self._state


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Run with the global seed set (for values a model file makes at construction), then
    restore the previous seed."""
    previous = _random.initial_seed()
    _random.manual_seed(seed)
    try:
        yield
    finally:
        _random.manual_seed(previous)


def prepare(recipe: ModelRecipe) -> Prepared:
    """Build, initialise, load and cast the model of ``recipe`` (no value computed).

    Args:
        recipe: What to build.

    Returns:
        The prepared model.

    Raises:
        ModelLoadError, InitError, StateDictError, SafetensorsError: from each step.
    """
    seed = int(recipe.seed)  # type: ignore[arg-type]
    with _seeded(seed):
        model = open_model(
            recipe.model_file, recipe.entry, recipe.args, recipe.config, torch=recipe.torch
        )
        # The model's own code may run again here (its forward, for LSUV).
        with model_code(recipe.model_file, "while initialising and loading the model"):
            if recipe.device is not None:
                model = model.to(as_device(recipe.device))
            init_report = None
            if recipe.scheme is not None or recipe.rules:
                init_report = apply_scheme(model, recipe.scheme or "default", recipe.rules, seed=seed)  # fmt: skip
            if recipe.load_from is not None:
                load_into(model, recipe.load_from, strict=recipe.strict)
            if recipe.dtype is not None:
                model = model.to(float_dtype(recipe.dtype))
    return Prepared(model, init_report)


#: The last model built in this process, by recipe fingerprint: a worker writing several
#: shards of one export builds the model once.
_built: dict[str, Prepared] = {}


class ModelSource:
    """A model file as a :class:`~paramtool.export.source.Source`.

    Pickling keeps the recipe only; a copy rebuilds the model (deferred, so in milliseconds
    for most models) the first time it is asked for anything.

    Args:
        recipe: What decides the values.
        prepared: The model already built from ``recipe`` in this process, if any.
    """

    def __init__(self, recipe: ModelRecipe, prepared: Prepared | None = None) -> None:
        self.recipe = recipe
        self._fingerprint = recipe.fingerprint()
        if prepared is not None:
            _built.clear()
            _built[self._fingerprint] = prepared

    def __getstate__(self) -> dict[str, Any]:
        # Paths made absolute here, where they were given: a worker may run in another folder.
        return {"recipe": self.recipe.absolute(), "_fingerprint": self._fingerprint}

    def prepared(self) -> Prepared:
        """The built model (built on first use in each process)."""
        found = _built.get(self._fingerprint)
        if found is None:
            found = prepare(self.recipe)
            _built.clear()
            _built[self._fingerprint] = found
        return found

    def _state(self) -> Mapping[str, Any]:
        return self.prepared().state()

    def entries(self) -> list[TensorSpec]:
        """See :class:`~paramtool.export.source.Source`."""
        state = self._state()
        return specs_of(state, list(tie_groups(state)))

    def ties(self) -> dict[str, str]:
        """See :class:`~paramtool.export.source.Source`."""
        return ties_of(tie_groups(self._state()))

    def metadata(self) -> dict[str, str]:
        """The recipe's provenance."""
        return self.recipe.provenance()

    def fingerprint(self) -> str:
        """See :meth:`ModelRecipe.fingerprint`."""
        return self._fingerprint

    def values(self, name: str) -> np.ndarray:
        """The values of ``name``, computed from its recipe and the seed (nothing kept)."""
        return host_array(self._state()[name], name, self.recipe.seed)

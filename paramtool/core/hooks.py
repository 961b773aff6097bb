"""The handle that unregisters a hook, shared by every hook registry (``torch.utils.hooks``)."""

from __future__ import annotations

import itertools
import weakref
from typing import Any


class RemovableHandle:
    """A handle that removes a hook from the registries it was added to (``torch.utils.hooks``).

    Attributes:
        id: The hook's key in its registries, unique in the process.
    """

    _ids = itertools.count()

    def __init__(self, hooks_dict: dict[int, Any], *, extra_dict: Any = None) -> None:
        self.hooks_dict_ref = weakref.ref(hooks_dict)
        self.id = next(RemovableHandle._ids)
        extras = [extra_dict] if isinstance(extra_dict, dict) else list(extra_dict or [])
        self.extra_dict_ref = tuple(weakref.ref(d) for d in extras)

    def remove(self) -> None:
        """Unregister the hook (doing it twice is harmless)."""
        for ref in (self.hooks_dict_ref, *self.extra_dict_ref):
            registry = ref()
            if registry is not None:
                registry.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()

"""``torch.utils.data``: the dataset and loader classes model files import and subclass.

paramtool reads model definitions, not training data: these classes are importable,
subclassable and constructible, and a ``DataLoader`` records its settings. Iterating a loader
yields the dataset's items in order in batches of one, uncollated.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Generic, TypeVar

_T = TypeVar("_T")


class Dataset(Generic[_T]):
    """Map-style dataset: subclasses define ``__getitem__`` and ``__len__``."""

    def __getitem__(self, index: Any) -> _T:
        raise NotImplementedError(f"{type(self).__name__} does not define __getitem__")


class IterableDataset(Dataset[_T]):
    """Iterable-style dataset: subclasses define ``__iter__``."""

    def __iter__(self) -> Iterator[_T]:
        raise NotImplementedError(f"{type(self).__name__} does not define __iter__")


class TensorDataset(Dataset[tuple[Any, ...]]):
    """Items are the rows of the given tensors, taken together."""

    def __init__(self, *tensors: Any) -> None:
        self.tensors = tensors

    def __getitem__(self, index: Any) -> tuple[Any, ...]:
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return len(self.tensors[0]) if self.tensors else 0


class Subset(Dataset[_T]):
    """The items of ``dataset`` at ``indices``."""

    def __init__(self, dataset: Any, indices: Sequence[int]) -> None:
        self.dataset, self.indices = dataset, indices

    def __getitem__(self, index: int) -> _T:
        return self.dataset[self.indices[index]]

    def __len__(self) -> int:
        return len(self.indices)


class Sampler(Generic[_T]):
    """Base class of samplers."""

    def __init__(self, data_source: Any = None) -> None:
        self.data_source = data_source


class SequentialSampler(Sampler[int]):
    """Indices in order."""


class RandomSampler(Sampler[int]):
    """Indices in random order."""

    def __init__(self, data_source: Any, replacement: bool = False, num_samples: int | None = None,
                 generator: Any = None) -> None:  # fmt: skip
        super().__init__(data_source)
        self.replacement, self.num_samples = replacement, num_samples


class DistributedSampler(Sampler[int]):
    """Indices for one of several processes (one process here)."""

    def __init__(self, dataset: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(dataset)


class DataLoader(Generic[_T]):
    """Records the dataset and the loader settings (batch size, shuffling, workers, ...)."""

    def __init__(self, dataset: Any, batch_size: int | None = 1, shuffle: bool | None = None,
                 **settings: Any) -> None:  # fmt: skip
        self.dataset, self.batch_size, self.shuffle = dataset, batch_size, shuffle
        self.settings = settings

    def __iter__(self) -> Iterator[Any]:
        return (self.dataset[i] for i in range(len(self.dataset)))

    def __len__(self) -> int:
        return len(self.dataset)


def default_collate(batch: list[Any]) -> list[Any]:
    """The batch as given (paramtool does not collate training data)."""
    return batch


__all__ = [
    "DataLoader", "Dataset", "DistributedSampler", "IterableDataset", "RandomSampler", "Sampler",
    "SequentialSampler", "Subset", "TensorDataset", "default_collate",
]  # fmt: skip

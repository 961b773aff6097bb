"""safetensors I/O: validating zero-copy reader, streaming atomic writer, ties and shards.

Everything that touches the format lives in this package:

- :mod:`.format`: dtype table, header parsing and validation.
- :mod:`.reader`: memory-mapped loading of arrays and Tensors.
- :mod:`.writer`: the canonical layout, the streaming writer, atomic replacement.
- :mod:`.checkpoint`: one file or a sharded (Hugging Face index) checkpoint, from headers.
- :mod:`.state`: state dicts with tied tensors stored once (sharded writing: ``export``).
- :mod:`.sharing`: tied, overlapping and identical tensors.

The names of :mod:`.state` (which loads the nn core) are imported when first used: reading a
checkpoint never needs them.
"""

from paramtool.checkpoint.checkpoint import Checkpoint, Entry, open_checkpoint
from paramtool.checkpoint.safetensors.format import (
    DTYPES,
    FORMAT_DTYPES,
    MAX_HEADER_SIZE,
    Header,
    TensorInfo,
    read_header,
)
from paramtool.checkpoint.safetensors.reader import load_arrays, load_file
from paramtool.checkpoint.safetensors.writer import save_file, write_stream
from paramtool.checkpoint.sharing import Sharing, find_identical, find_shared
from paramtool.core.lazy import lazy_names

__all__ = [
    "DTYPES",
    "FORMAT_DTYPES",
    "MAX_HEADER_SIZE",
    "Checkpoint",
    "Entry",
    "Header",
    "Sharing",
    "TensorInfo",
    "fill_tied_names",
    "find_identical",
    "find_shared",
    "load_arrays",
    "load_file",
    "load_into",
    "load_state_dict_file",
    "open_checkpoint",
    "read_header",
    "save_file",
    "save_state_dict",
    "write_stream",
]


#: Names of :mod:`.state`, imported on first use.
_STATE = ("fill_tied_names", "load_into", "load_state_dict_file", "save_state_dict")


__getattr__ = lazy_names(__name__, "paramtool.checkpoint.state", _STATE)

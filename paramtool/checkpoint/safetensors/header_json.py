"""A safetensors header's JSON text parsed strictly: UTF-8, an object, no duplicate keys.

``json.loads`` keeps the last of duplicate keys silently and accepts ``NaN``; the format allows
neither. A header of a million tensors is parsed by one call of a fast parser in the usual case:
duplicates are ruled out by counting colons (see :func:`_no_pair_lost`), and only a header
that fails the count is parsed again pair by pair.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from paramtool.errors import SafetensorsError

try:
    import orjson as _orjson
except ImportError:  # pragma: no cover - a dependency; the standard parser still reads all
    _orjson = None

METADATA_KEY = "__metadata__"


def _fail(path: object, rule: str) -> SafetensorsError:
    return SafetensorsError(f"{path}: {rule}")


def _duplicate(pairs: Sequence[tuple[str, object]]) -> ValueError:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            break
        seen.add(key)
    return ValueError(f"duplicate key {key!r}")


def _no_pair_lost(text: str, parsed: dict[str, object]) -> bool:
    """True when parsing kept every key-value pair of ``text``: no key was given twice.

    Outside strings a ``:`` only separates a key from its value, so the colons of the text are
    the pairs plus the colons inside strings. Counting the pairs and string colons of the
    header object and of the objects it holds (without ``\\u`` escapes, which could spell a
    colon) must give the same number; a lost duplicate, or anything nested deeper, makes them
    differ, and the header is then parsed again pair by pair to name the duplicate.
    """
    values = parsed.values()
    key_colons = ":".join(parsed).count(":") - max(len(parsed) - 1, 0)
    colons = text.count(":") - key_colons
    if set(map(type, values)) == {dict}:  # each pass at C speed: a header may hold millions
        pairs = len(parsed) + sum(map(len, values))
    else:
        pairs = len(parsed) + sum(len(value) for value in values if type(value) is dict)
    metadata = parsed.get(METADATA_KEY)
    if type(metadata) is dict:  # the only object whose strings are free text
        for field, item in metadata.items():
            colons -= field.count(":") + (item.count(":") if type(item) is str else 0)
    # Colons in a tensor entry's own strings (no valid field or dtype has one) are not
    # subtracted: they make the counts differ, and the careful parse decides.
    return colons == pairs


def _objects(pairs: tuple[tuple[str, object], ...]) -> dict[str, object]:
    """The header object and the objects it holds (tensor entries, metadata) as dicts,
    refusing duplicate keys. JSON objects arrive as tuples of pairs (``object_pairs_hook``
    is the C ``tuple``: no Python call per object); deeper objects stay tuples, which no
    field of the format accepts."""
    top = dict(pairs)
    if len(top) != len(pairs):
        raise _duplicate(pairs)
    for key, value in top.items():
        if type(value) is tuple:
            fields = dict(value)
            if len(fields) != len(value):
                raise _duplicate(value)
            top[key] = fields
    return top


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


def _unique_object(pairs: list[tuple[str, object]]) -> dict[str, object]:
    found = dict(pairs)
    if len(found) != len(pairs):
        raise _duplicate(pairs)
    return found


def loads_strict(text: str) -> object:
    """``json.loads`` refusing duplicate keys in any object, and NaN and Infinity (for small
    documents such as an index; a header takes :func:`parse_json`'s faster way).

    Raises:
        ValueError: not JSON, a duplicate key (named), NaN or Infinity.
        RecursionError: nested too deeply.
    """
    return json.loads(text, object_pairs_hook=_unique_object, parse_constant=_refuse_constant)


def _loads(raw: bytes, text: str, fast: bool) -> object:
    """``json.loads(text)`` with NaN and Infinity refused; by orjson when ``fast`` and it can.

    orjson reads a header of a million tensors in half the time, and gives the same values
    for every JSON text but one kind: it reads integers beyond 64 bits as floats (no field of
    the format accepts either, so a caller checking fields can take its result and parse
    again only what it refuses). What orjson refuses (lone surrogates, nesting over 1024, ...)
    is read by the standard parser, whose result or message is then the one given.
    """
    if fast and _orjson is not None:
        try:
            return _orjson.loads(raw)
        except _orjson.JSONDecodeError:
            pass
    return json.loads(text, parse_constant=_refuse_constant)


def parse_json(raw: bytes, path: object, fast: bool = False) -> dict[str, object]:
    """Decode and parse header bytes, refusing what JSON or the format forbids.

    ``fast`` parses by orjson when it can: the same result, except that integers beyond 64 bits
    become floats (see :func:`_loads`).

    Raises:
        SafetensorsError: not UTF-8, not starting with ``{``, not JSON, duplicate keys,
            nesting too deep.
    """
    if not raw.startswith(b"{"):
        raise _fail(path, "header must start with '{'")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _fail(path, f"header is not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    try:
        parsed = _loads(raw, text, fast)
        if type(parsed) is not dict:
            raise _fail(path, "header must be a JSON object")
        if "\\u" in text or not _no_pair_lost(text, parsed):
            return _objects(json.loads(text, object_pairs_hook=tuple))
        return parsed
    except RecursionError:
        raise _fail(path, "header JSON is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, duplicates, NaN, oversized integers
        raise _fail(path, f"header is not valid JSON: {exc}") from None

"""Parsing of the small JSON and TOML files the library reads (specs, margins, targets,
last year's results, run files), with one treatment of hostile nesting.

Python's JSON decoder and :mod:`tomllib` recurse once per nested array or table: a file
holding ``[[[[...]]]]`` thousands deep ends in a raw :class:`RecursionError`. Every
loader of a JSON/TOML input goes through :func:`parse_json_or_toml`, which turns that,
and any nesting deeper than :data:`MAX_NESTING` (which later code walking the structure
recursively could not handle either), into the caller's own error class with a message
naming the file and the fix.
"""

from __future__ import annotations

import json
import tomllib
from typing import Any

__all__ = ["MAX_NESTING", "parse_json_or_toml", "nesting_depth"]

#: Deepest nesting of arrays/tables/objects accepted in an input file. The library's
#: files nest a handful of levels; anything near this is a damaged or hostile file.
MAX_NESTING = 64


def nesting_depth(value: Any, limit: int = MAX_NESTING) -> int:
    """Depth of nested lists/dicts in ``value`` (0 for a scalar), counted up to ``limit + 1``.

    Parameters
    ----------
    value : Any
        A parsed JSON/TOML structure.
    limit : int
        Counting stops one level beyond ``limit`` (the answer is then ``limit + 1``).

    Returns
    -------
    int
        The depth, without recursion (safe on any structure).
    """
    depth, level = 0, [value]
    while level and depth <= limit:
        nxt: list = []
        for v in level:
            if isinstance(v, dict):
                nxt.extend(v.values())
            elif isinstance(v, list):
                nxt.extend(v)
        if not nxt and not any(isinstance(v, (dict, list)) for v in level):
            break
        depth += 1
        level = nxt
    return depth


def parse_json_or_toml(
    text: str,
    fmt: str,
    *,
    what: str,
    source: str,
    error: type[Exception],
    max_nesting: int = MAX_NESTING,
) -> Any:
    """Parse ``text`` as JSON or TOML; malformed or too deeply nested content raises ``error``.

    Parameters
    ----------
    text : str
        The file's text (already decoded).
    fmt : {"json", "toml"}
        The format.
    what : str
        What the file is, for the message (``"margins file"``, ``"run file"``, ...).
    source : str
        The file's path or another name shown in the message.
    error : type
        The exception class to raise: a :class:`~happiness_index.HappinessIndexError`
        subclass in the library (the command line passes its usage error).
    max_nesting : int, default :data:`MAX_NESTING`
        Deepest nesting of arrays/tables accepted.

    Returns
    -------
    Any
        The parsed structure (a dict for TOML).

    Raises
    ------
    HappinessIndexError
        (the ``error`` class) not valid JSON/TOML, or nested deeper than ``max_nesting``
        (including nesting so deep that the parser itself gives up).

    Notes
    -----
    Python's JSON decoder accepts the non-standard ``NaN`` and ``Infinity``: the caller
    validates every number it reads.
    """
    if fmt not in ("json", "toml"):
        raise ValueError(f"fmt must be 'json' or 'toml', got {fmt!r}")
    too_deep = (
        f"{what} {source}: arrays or tables nested too deep (more than {max_nesting} levels); "
        "such a file nests a few levels at most: check that the path names the right file"
    )
    try:
        d = json.loads(text) if fmt == "json" else tomllib.loads(text)
    except RecursionError:
        raise error(too_deep) from None
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as e:
        raise error(f"cannot read {what} {source}: not valid {fmt.upper()}: {e}") from None
    if nesting_depth(d, max_nesting) > max_nesting:
        raise error(too_deep)
    return d

"""Bounded JSON: a nesting-depth limit checked before parsing, so no input can exhaust the stack.

``json.loads`` (and pydantic after it) recurse once per nesting level: a request body, form field
or uploaded file nested 50,000 deep raises ``RecursionError``. ``DepthScanner`` counts brackets
outside strings in one linear pass (incrementally, chunk by chunk, for streamed request bodies)
and ``loads_bounded`` parses only text that passed it.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_JSON_DEPTH = 64
"""Deepest nesting of arrays / objects accepted anywhere (request bodies, form fields, files)."""

_TOKENS_STR = re.compile(r'[\\"\[\]{}]')
_TOKENS_BYTES = re.compile(rb'[\\"\[\]{}]')
_OPEN = frozenset("[{")
_CLOSE = frozenset("]}")


class JSONLimitError(ValueError):
    """JSON nested deeper than the limit (the message names the limit)."""


class DepthScanner:
    """Tracks the nesting depth of JSON text fed in pieces (str or UTF-8 bytes); raises
    ``JSONLimitError`` as soon as it exceeds ``max_depth``. Malformed JSON is left to the parser."""

    def __init__(self, max_depth: int = MAX_JSON_DEPTH, what: str = "JSON") -> None:
        self.max_depth = max_depth
        self.what = what
        self.depth = 0
        self._in_string = False
        self._escaped_at = -1
        self._offset = 0

    def feed(self, piece: str | bytes) -> None:
        """Scan the next piece of the text."""
        is_bytes = isinstance(piece, bytes)
        pattern = _TOKENS_BYTES if is_bytes else _TOKENS_STR
        base = self._offset
        for match in pattern.finditer(piece):  # type: ignore[arg-type]
            where = base + match.start()
            if where == self._escaped_at:
                continue
            char = chr(piece[match.start()]) if is_bytes else piece[match.start()]  # type: ignore[arg-type]
            if self._in_string:
                if char == "\\":
                    self._escaped_at = where + 1
                elif char == '"':
                    self._in_string = False
            elif char == '"':
                self._in_string = True
            elif char in _OPEN:
                self.depth += 1
                if self.depth > self.max_depth:
                    raise JSONLimitError(
                        f"{self.what} is nested deeper than {self.max_depth} levels (the JSON depth limit)"
                    )
            elif char in _CLOSE:
                self.depth = max(0, self.depth - 1)
        self._offset += len(piece)


def check_depth(text: str | bytes, max_depth: int = MAX_JSON_DEPTH, what: str = "JSON") -> None:
    """Raise ``JSONLimitError`` when ``text`` nests deeper than ``max_depth``."""
    DepthScanner(max_depth, what).feed(text)


def loads_bounded(text: str | bytes, *, max_depth: int = MAX_JSON_DEPTH, what: str = "JSON") -> Any:
    """``json.loads`` after the depth check; raises ``JSONLimitError`` or ``json.JSONDecodeError``."""
    check_depth(text, max_depth, what)
    try:
        return json.loads(text)
    except RecursionError:  # the depth check makes this unreachable with sane limits
        raise JSONLimitError(f"{what} is nested too deeply to parse") from None

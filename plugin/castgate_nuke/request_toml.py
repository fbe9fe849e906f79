"""A tiny TOML reader and writer for castgate request files, for Nuke's Python 3.7 (no tomllib).

It covers the subset castgate's request files use, and refuses the rest with the line number:

* comments, blank lines; ``[table]`` and ``[a.b]`` headers; ``[[roles]]`` arrays of tables;
* ``key = value`` with bare keys (``A-Za-z0-9_-``) or "quoted" keys;
* values: "basic strings" (escapes ``\\" \\\\ \\n \\t \\r \\b \\f \\uXXXX \\UXXXXXXXX``),
  'literal strings', integers (``1_000``, signs), floats (``0.5``, ``1e-3``, ``inf``, ``nan``),
  ``true``/``false``, and arrays of those (one line or several, trailing comma allowed).

Not supported (castgate never writes them): multi-line strings, inline tables, dotted keys,
dates and times, hexadecimal/octal/binary integers.

Example:
    >>> loads('[batch]\\nname = "office_a"\\n[[roles]]\\nid = "clerk"\\ncount = 4\\n')
    {'batch': {'name': 'office_a'}, 'roles': [{'id': 'clerk', 'count': 4}]}
"""

from __future__ import annotations

import math
import re
from typing import Any, Dict, List, Tuple

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+$")
_INT = re.compile(r"[+-]?(0|[1-9](_?[0-9])*)$")
_FLOAT = re.compile(r"[+-]?(0|[1-9](_?[0-9])*)(\.[0-9](_?[0-9])*)?([eE][+-]?[0-9](_?[0-9])*)?$")
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}

# Tables written first, in this order; other tables follow in their own order, arrays of tables last.
TABLE_ORDER = ("batch", "models", "sampling")


class TomlSubsetError(ValueError):
    """The text is not in the TOML subset this reader understands; the message names the line."""


# -- reading ----------------------------------------------------------------------------------------
def loads(text: str, source: str = "request") -> Dict[str, Any]:
    """Parse TOML text in the supported subset into nested dicts and lists.

    Raises:
        TomlSubsetError: naming ``source`` and the line, for malformed or unsupported input.
    """
    root = {}  # type: Dict[str, Any]
    current = root
    lines = text.splitlines()
    number = 0
    while number < len(lines):
        raw = lines[number]
        number += 1
        line = _strip_comment(raw, source, number).strip()
        if not line:
            continue
        if line.startswith("[["):
            if not line.endswith("]]"):
                raise _error(source, number, "an array-of-tables header must end with ]]")
            path = _header_path(line[2:-2], source, number)
            parent = _table_at(root, path[:-1], source, number)
            array = parent.setdefault(path[-1], [])
            if not isinstance(array, list):
                raise _error(source, number, "[[{}]] repeats a key that is not an array".format(".".join(path)))
            current = {}
            array.append(current)
            continue
        if line.startswith("["):
            if not line.endswith("]"):
                raise _error(source, number, "a table header must end with ]")
            path = _header_path(line[1:-1], source, number)
            current = _table_at(root, path, source, number)
            continue
        key, sep, rest = _split_key(line, source, number)
        value_text = rest.strip()
        # An array may run over several lines: read on until its brackets close.
        while value_text.startswith("[") and not _brackets_closed(value_text, source, number):
            if number >= len(lines):
                raise _error(source, number, "the array for {!r} is never closed with ]".format(key))
            number += 1
            value_text += " " + _strip_comment(lines[number - 1], source, number).strip()
        if key in current:
            raise _error(source, number, "key {!r} is defined twice".format(key))
        current[key] = _parse_value(value_text, source, number)
    return root


def _error(source: str, number: int, message: str) -> TomlSubsetError:
    return TomlSubsetError("{}: line {}: {}".format(source, number, message))


def _strip_comment(line: str, source: str, number: int) -> str:
    """The line without a trailing # comment (a # inside a string stays)."""
    quote = ""
    i = 0
    while i < len(line):
        ch = line[i]
        if quote:
            if ch == "\\" and quote == '"':
                i += 2
                continue
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            if line[i:i + 3] in ('"""', "'''"):
                raise _error(source, number, "multi-line strings are not supported here; "
                                             "write the text on one line with \\n escapes")
            quote = ch
        elif ch == "#":
            return line[:i]
        i += 1
    return line


def _header_path(inner: str, source: str, number: int) -> List[str]:
    parts = [p.strip() for p in inner.split(".")]
    for part in parts:
        if not _BARE_KEY.match(part):
            raise _error(source, number, "table name {!r} is not a bare key".format(inner.strip()))
    return parts


def _table_at(root: Dict[str, Any], path: List[str], source: str, number: int) -> Dict[str, Any]:
    table = root
    for part in path:
        value = table.setdefault(part, {})
        if isinstance(value, list):  # [[a]] then [a.b]: b belongs to the last a
            value = value[-1]
        if not isinstance(value, dict):
            raise _error(source, number, "{!r} is already a value, not a table".format(part))
        table = value
    return table


def _split_key(line: str, source: str, number: int) -> Tuple[str, str, str]:
    if line.startswith('"'):
        end = _string_end(line, 0, source, number)
        key = _parse_value(line[:end + 1], source, number)
        rest = line[end + 1:].lstrip()
        if not rest.startswith("="):
            raise _error(source, number, "expected = after the key")
        return str(key), "=", rest[1:]
    key, sep, rest = line.partition("=")
    key = key.strip()
    if not sep:
        raise _error(source, number, "expected key = value")
    if "." in key:
        raise _error(source, number, "dotted keys ({}) are not supported; use a [table] header".format(key))
    if not _BARE_KEY.match(key):
        raise _error(source, number, "{!r} is not a valid key".format(key))
    return key, sep, rest


def _string_end(text: str, start: int, source: str, number: int) -> int:
    """Index of the closing quote of the string opening at ``start``."""
    quote = text[start]
    i = start + 1
    while i < len(text):
        if quote == '"' and text[i] == "\\":
            i += 2
            continue
        if text[i] == quote:
            return i
        i += 1
    raise _error(source, number, "a string is never closed")


def _brackets_closed(text: str, source: str, number: int) -> bool:
    depth = 0
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in "\"'":
            i = _string_end(text, i, source, number)
        elif ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        i += 1
    return depth <= 0


def _parse_value(text: str, source: str, number: int) -> Any:
    text = text.strip()
    if not text:
        raise _error(source, number, "a key has no value")
    if text.startswith('"'):
        end = _string_end(text, 0, source, number)
        if text[end + 1:].strip():
            raise _error(source, number, "unexpected text after a string: {!r}".format(text[end + 1:].strip()))
        return _unescape(text[1:end], source, number)
    if text.startswith("'"):
        end = _string_end(text, 0, source, number)
        if text[end + 1:].strip():
            raise _error(source, number, "unexpected text after a string: {!r}".format(text[end + 1:].strip()))
        return text[1:end]
    if text.startswith("["):
        return _parse_array(text, source, number)
    if text.startswith("{"):
        raise _error(source, number, "inline tables are not supported here; use a [table] header")
    if text in ("true", "false"):
        return text == "true"
    if text in ("inf", "+inf", "-inf", "nan", "+nan", "-nan"):
        return float(text.replace("+", ""))
    if _INT.match(text):
        return int(text.replace("_", ""))
    if _FLOAT.match(text):
        return float(text.replace("_", ""))
    raise _error(source, number, "cannot read the value {!r} (dates, hex numbers and bare words are "
                                 "not supported; quote text)".format(text))


def _parse_array(text: str, source: str, number: int) -> List[Any]:
    if not text.endswith("]"):
        raise _error(source, number, "unexpected text after an array")
    inner = text[1:-1]
    items = []  # type: List[Any]
    i = 0
    start = 0
    depth = 0
    while i < len(inner):
        ch = inner[i]
        if ch in "\"'":
            i = _string_end(inner, i, source, number)
        elif ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append(inner[start:i])
            start = i + 1
        i += 1
    items.append(inner[start:])
    values = [_parse_value(item, source, number) for item in items if item.strip()]
    return values


def _unescape(body: str, source: str, number: int) -> str:
    out = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        code = body[i + 1:i + 2]
        if code in _ESCAPES:
            out.append(_ESCAPES[code])
            i += 2
        elif code in ("u", "U"):
            width = 4 if code == "u" else 8
            digits = body[i + 2:i + 2 + width]
            if len(digits) != width or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise _error(source, number, "bad \\{} escape".format(code))
            out.append(chr(int(digits, 16)))
            i += 2 + width
        else:
            raise _error(source, number, "unknown escape \\{}".format(code))
    return "".join(out)


# -- writing ----------------------------------------------------------------------------------------
def dumps(data: Dict[str, Any]) -> str:
    """Write nested dicts/lists in the same subset (tables first, ``[[arrays]]`` of tables last).

    Raises:
        TomlSubsetError: for values the subset cannot hold (None, nested tables in arrays...).

    Example:
        >>> print(dumps({"batch": {"name": "a", "seed": 7}, "roles": [{"id": "clerk", "count": 2}]}))
        [batch]
        name = "a"
        seed = 7
        <BLANKLINE>
        [[roles]]
        id = "clerk"
        count = 2
        <BLANKLINE>
    """
    lines = []  # type: List[str]
    scalars = [(k, v) for k, v in data.items() if not _is_table(v) and not _is_table_array(v)]
    for key, value in scalars:
        lines.append("{} = {}".format(_key(key), _value(value, key)))
    if scalars:
        lines.append("")
    tables = [k for k in data if _is_table(data[k])]
    tables.sort(key=lambda k: (TABLE_ORDER.index(k) if k in TABLE_ORDER else len(TABLE_ORDER)))
    for name in tables:
        _write_table(lines, [name], data[name])
    for name in (k for k in data if _is_table_array(data[k])):
        for item in data[name]:
            lines.append("[[{}]]".format(_key(name)))
            for key, value in item.items():
                if _is_table(value) or _is_table_array(value):
                    raise TomlSubsetError("{}: nested tables inside [[{}]] are not supported".format(key, name))
                lines.append("{} = {}".format(_key(key), _value(value, key)))
            lines.append("")
    return "\n".join(lines)


def _write_table(lines: List[str], path: List[str], table: Dict[str, Any]) -> None:
    lines.append("[{}]".format(".".join(_key(p) for p in path)))
    for key, value in table.items():
        if not _is_table(value):
            if _is_table_array(value):
                raise TomlSubsetError("{}: arrays of tables are only supported at the top level".format(key))
            lines.append("{} = {}".format(_key(key), _value(value, key)))
    lines.append("")
    for key, value in table.items():
        if _is_table(value):
            _write_table(lines, path + [key], value)


def _is_table(value: Any) -> bool:
    return isinstance(value, dict)


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _string(key)


def _value(value: Any, key: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v, key) for v in value) + "]"
    raise TomlSubsetError("{}: cannot write a value of type {} in a request".format(key, type(value).__name__))


def _string(text: str) -> str:
    out = ['"']
    for ch in text:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append("\\u{:04x}".format(ord(ch)))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)

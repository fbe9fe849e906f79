"""The batch journal: an append-only, hash-chained log of every change to a batch.

One JSON object per line (``BATCH/journal.jsonl``; a shard's own ``parts/shard-000i-of-000n.jsonl``).
Each entry names an operation (see :mod:`castgate.batch.manifest_ops`), when, who and where, its sequence
number and the hash of the entry before it; the line ends with the entry's own SHA-256 and, when a
studio key is configured, an HMAC-SHA256 of that hash::

    {"host":"farm07","op":"gen","plate":{...},"prev":"9f2c…","time":"…","user":"render","~seq":42,"~hash":"…","~mac":"…","~kid":"…"}

The hash covers the exact bytes of the entry (everything before ``,"~hash"``), so editing any entry,
removing or reordering one breaks the chain at that line. Without a key anyone can recompute the
hashes after an edit; with a key (``CASTGATE_SIGNING_KEY``, or a file named by
``CASTGATE_SIGNING_KEY_FILE``) only a holder of the key can. docs/manifest.md says what each mode
protects against.

Writers append under the batch lock (a shard under its own part lock); a line is written whole with
one ``write`` on an ``O_APPEND`` descriptor and fsynced. A line cut short by a crash (no newline at the
end of the file) was never acknowledged: readers ignore it and the next writer truncates it.

Example:
    >>> position = append_entries(path, [{"op": "event", "event": {...}}])
    >>> verify_journal(path, signing_key()).tampered
    []
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from castgate.batch.fileio import open_no_follow
from castgate.errors import CastgateError, ManifestError

KEY_ENV = "CASTGATE_SIGNING_KEY"
KEY_FILE_ENV = "CASTGATE_SIGNING_KEY_FILE"
_HASH_MARK = ',"~hash":"'
_TAIL = re.compile(r'"~seq":(\d+),"~hash":"([0-9a-f]{64})"')
_MAX_KEY_FILE = 4096


class SigningKeyError(CastgateError):
    """The studio signing key is configured but cannot be read."""


@dataclass(frozen=True)
class Position:
    """Where a journal ends: the last entry's sequence number and hash, and the file's length in bytes."""

    seq: int = -1
    head: str = ""
    offset: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "head": self.head, "offset": self.offset}

    @classmethod
    def from_dict(cls, data: Any) -> "Position | None":
        if not isinstance(data, dict):
            return None
        seq, head, offset = data.get("seq"), data.get("head"), data.get("offset")
        if not (isinstance(seq, int) and isinstance(head, str) and isinstance(offset, int) and offset >= 0):
            return None
        return cls(seq, head, offset)


@dataclass(frozen=True)
class Entry:
    """One journal line, parsed: its position in the file and its content."""

    line: int            # 1-based line number in the file
    seq: int
    prev: str
    hash: str
    data: dict[str, Any]
    end: int             # byte offset just after this line

    @property
    def op(self) -> str:
        return str(self.data.get("op", "?"))

    def describe(self) -> str:
        """``line 12 (seq 11, review of b_nurse_0003)`` for messages."""
        subject = self.data.get("id") or (self.data.get("plate") or {}).get("id") \
            or (self.data.get("event") or {}).get("kind") or ", ".join(sorted(self.data.get("fields") or {}))
        return f"line {self.line} (seq {self.seq}, {self.op}{' of ' + str(subject) if subject else ''})"


# -- the studio key --------------------------------------------------------------------------------
def signing_key() -> bytes | None:
    """The studio's HMAC key: ``$CASTGATE_SIGNING_KEY``, else the file ``$CASTGATE_SIGNING_KEY_FILE``, else None.

    Raises:
        SigningKeyError: the key file is named but missing, unreadable, empty or too large.
    """
    text = os.environ.get(KEY_ENV)
    if text:
        return text.encode("utf-8")
    path = os.environ.get(KEY_FILE_ENV)
    if not path:
        return None
    try:
        with open(path, "rb") as handle:
            data = handle.read(_MAX_KEY_FILE + 1).strip()
    except OSError as exc:
        raise SigningKeyError(f"cannot read the signing key file ({exc.strerror})", where=path,
                              fix=f"Fix {KEY_FILE_ENV} or the file's permissions") from None
    if not data or len(data) > _MAX_KEY_FILE:
        raise SigningKeyError("the signing key file is empty or larger than 4 KiB", where=path,
                              fix="Put one secret (e.g. 64 random hex characters) in the file")
    return data


def key_id(key: bytes) -> str:
    """A short public name for a key (not the key): which key signed an entry."""
    return hashlib.sha256(b"castgate-key-id:" + key).hexdigest()[:16]


def _mac(key: bytes, digest: str) -> str:
    return hmac.new(key, digest.encode("ascii"), hashlib.sha256).hexdigest()


# -- writing ---------------------------------------------------------------------------------------
def entry_line(data: dict[str, Any], seq: int, prev: str, key: bytes | None, default: Any = None) -> tuple[str, str]:
    """Serialise one entry: ``(line with newline, its hash)``."""
    body = json.dumps({**data, "prev": prev, "~seq": seq}, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False, default=default)
    digest = hashlib.sha256(body.encode("utf-8")).hexdigest()
    tail = f'{_HASH_MARK}{digest}"'
    if key is not None:
        tail += f',"~mac":"{_mac(key, digest)}","~kid":"{key_id(key)}"'
    return body[:-1] + tail + "}\n", digest


def append_entries(path: Path, entries: Sequence[dict[str, Any]], *, key: bytes | None = None,
                   default: Any = None) -> Position:
    """Append entries to a journal (the caller holds the lock); return the new end.

    Each entry gets ``time``, ``user`` and ``host`` unless it has them. ``default`` is the JSON
    encoder hook for objects inside entries (manifest dataclasses).
    """
    from castgate.batch.manifest import current_user, utc_now

    path = Path(path)
    stamp = {"time": utc_now(), "user": current_user(), "host": socket.gethostname()}
    fd = open_no_follow(path, os.O_RDWR | os.O_CREAT | os.O_APPEND)
    try:
        position = _recover_end(fd, path)
        seq, head = position.seq, position.head
        chunks = []
        for data in entries:
            seq += 1
            line, head = entry_line({**stamp, **data}, seq, head, key, default)
            chunks.append(line.encode("utf-8"))
        blob = b"".join(chunks)
        view = memoryview(blob)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
        return Position(seq, head, position.offset + len(blob))
    finally:
        os.close(fd)


def _recover_end(fd: int, path: Path) -> Position:
    """The journal's end; a last line cut short by a crash is truncated first (it was never acknowledged)."""
    size = os.fstat(fd).st_size
    if size == 0:
        return Position()
    end = _last_newline_end(fd, size)
    if end != size:
        os.ftruncate(fd, end)
        size = end
    if size == 0:
        return Position()
    back = min(size, 4096)
    tail = os.pread(fd, back, size - back).decode("utf-8", errors="replace")
    last_line = tail.rstrip("\n").rsplit("\n", 1)[-1]
    match = None
    for match in _TAIL.finditer(last_line):
        pass
    if match is None:
        raise ManifestError("the journal's last line is not a castgate journal entry", where=str(path),
                            fix="The journal was edited by hand; run castgate gate to see what changed, and "
                                "restore the batch from its farm copy or regenerate it")
    return Position(int(match.group(1)), match.group(2), size)


def _last_newline_end(fd: int, size: int) -> int:
    """The offset just after the file's last newline (0 when there is none)."""
    position = size
    while position > 0:
        start = max(0, position - 65536)
        chunk = os.pread(fd, position - start, start)
        found = chunk.rfind(b"\n")
        if found >= 0:
            return start + found + 1
        position = start
    return 0


# -- reading ---------------------------------------------------------------------------------------
def read_entries(path: Path, offset: int = 0, first_line: int = 1) -> Iterator[Entry | str]:
    """Parse a journal from ``offset``: an :class:`Entry` per good line, a message per bad one.

    Only the shape is checked here (JSON, a hash mark); :func:`verify_journal` checks the chain.
    A last line without a newline (a write cut short) is skipped.
    """
    fd = open_no_follow(Path(path), os.O_RDONLY)
    try:
        with os.fdopen(fd, "rb", closefd=False) as handle:
            handle.seek(offset)
            position = offset
            number = first_line - 1
            for raw in handle:
                number += 1
                position += len(raw)
                if not raw.endswith(b"\n"):
                    return
                yield _parse_line(raw, number, position)
    finally:
        os.close(fd)


def _parse_line(raw: bytes, number: int, end: int) -> Entry | str:
    try:
        text = raw.decode("utf-8").rstrip("\n")
        data = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return f"line {number} is not valid JSON"
    if not isinstance(data, dict) or not isinstance(data.get("~hash"), str) or _HASH_MARK not in text:
        return f"line {number} is not a journal entry (no hash)"
    body = text[:text.rfind(_HASH_MARK)] + "}"
    digest = data.pop("~hash")
    data["~body_hash"] = hashlib.sha256(body.encode("utf-8")).hexdigest()
    data["~claimed_hash"] = digest
    seq = data.pop("~seq", None)
    prev = data.pop("prev", None)
    if not isinstance(seq, int) or not isinstance(prev, str):
        return f"line {number} is not a journal entry (no sequence number)"
    return Entry(line=number, seq=seq, prev=prev, hash=digest, data=data, end=end)


def content(entry: Entry) -> dict[str, Any]:
    """An entry's operation without the chain's bookkeeping."""
    return {k: v for k, v in entry.data.items() if not k.startswith("~")}


@dataclass(frozen=True)
class Verification:
    """What :func:`verify_journal` found: the entries, edits (tampering) and what it could not check."""

    entries: list[Entry]
    tampered: list[str]
    unverifiable: list[str]


def verify_journal(path: Path, key: bytes | None) -> Verification:
    """Read a whole journal and check its chain (and signatures when ``key`` is given).

    Returns:
        A :class:`Verification`; each finding is one sentence naming the line.
    """
    entries: list[Entry] = []
    findings: list[str] = []
    prev, expected_seq = "", 0
    signed_without_key = False
    for item in read_entries(path):
        if isinstance(item, str):
            findings.append(item + " (edited by hand?)")
            continue
        data = item.data
        if data["~body_hash"] != data["~claimed_hash"]:
            findings.append(f"{item.describe()} was edited: its content no longer matches its hash")
        elif item.prev != prev or item.seq != expected_seq:
            findings.append(f"{item.describe()} does not follow the entry before it: an entry was removed, "
                            "inserted or reordered")
        if key is not None:
            mac = data.get("~mac")
            if not isinstance(mac, str):
                findings.append(f"{item.describe()} is not signed with the studio key")
            elif not hmac.compare_digest(mac, _mac(key, item.hash)):
                other = data.get("~kid")
                whose = (f" (it was signed with key {other}, yours is {key_id(key)})"
                         if isinstance(other, str) and other != key_id(key) else "")
                findings.append(f"{item.describe()} has a signature that does not match the studio key{whose}")
        elif "~mac" in data:
            signed_without_key = True
        entries.append(item)
        prev, expected_seq = item.hash, item.seq + 1
    unverifiable = []
    if signed_without_key:
        unverifiable.append(f"the journal is signed, but no studio key is configured here, so its signatures "
                            f"cannot be checked (set {KEY_ENV} or {KEY_FILE_ENV})")
    return Verification(entries, findings, unverifiable)

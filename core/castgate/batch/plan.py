"""The plan of a batch: every plate (or candidate) a request asks for, with its id and seed.

Pure and light (no JAX, no image libraries), so the gate can compare a batch with its plan without
loading anything heavy. Each plate's seed comes from the batch seed, the role id and the index alone,
so a plate is the same whatever the batch size, the shard split or the device count.

Example:
    >>> [p.plate_id for p in plan(request)][:2]
    ['hospital_nurse_0000', 'hospital_nurse_0001']
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Sequence

from castgate.errors import CastgateError
from castgate.request import Request, Role, plate_name

AWAITING_SELECTION = "awaiting CLIP selection (run `castgate merge` once every shard has finished)"
MAX_SHARDS = 100_000


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (1-based, like farm frame numbers)."""

    index: int = 1
    count: int = 1

    @classmethod
    def parse(cls, text: str) -> "Shard":
        """Parse ``"i/n"``; raise :class:`CastgateError` with the fix when malformed."""
        parts = text.split("/")
        if len(parts) != 2 or not all(p.isascii() and p.isdigit() and len(p) <= 6 for p in parts):
            raise CastgateError(f"--shard {text!r} is not of the form i/n (whole numbers up to {MAX_SHARDS})",
                                fix="Use e.g. --shard 2/4")
        index, count = int(parts[0]), int(parts[1])
        if not 1 <= index <= count:
            raise CastgateError(f"--shard {text!r}: i must be from 1 to n", fix="Use e.g. --shard 2/4")
        if count > MAX_SHARDS:
            raise CastgateError(f"--shard {text!r}: n is above {MAX_SHARDS}", fix="Use fewer shards")
        return cls(index, count)

    @property
    def is_whole(self) -> bool:
        return self.count == 1


@dataclass(frozen=True)
class PlannedPlate:
    role: Role
    index: int
    plate_id: str
    seed: int


def plate_seed(batch_seed: int, role_id: str, index: int) -> int:
    """A plate's own seed, from the batch seed, role id and index only (31-bit)."""
    digest = hashlib.sha256(f"castgate/{batch_seed}/{role_id}/{index}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def plan(request: Request) -> list[PlannedPlate]:
    """Every plate (or candidate, when ``candidates_per_plate`` > 1) the request asks for, in order."""
    per_plate = request.sampling.candidates_per_plate
    return [
        PlannedPlate(role, index, plate_name(request.output_template, request.batch, role.id, index),
                     plate_seed(request.seed, role.id, index))
        for role in request.roles
        for index in range(role.count * per_plate)
    ]


def shard_slice(planned: Sequence[PlannedPlate], shard: Shard) -> list[PlannedPlate]:
    """The deterministic slice of the plan a shard generates: every n-th plate, starting at i-1."""
    return list(planned[shard.index - 1::shard.count])

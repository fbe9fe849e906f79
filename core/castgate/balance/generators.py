"""The generator behind ``castgate balance``: a plug-in point.

A generator turns prompts and seeds into sRGB images (H×W×3, floats 0–1 or uint8), one per prompt,
deterministically. castgate's own is DALL·E mini / mega (:class:`DalleGenerator`); a request cannot name
any other: another generator is passed in code (``balance_request(..., generator=...)``), as the tests do
with real photographs.

Example:
    >>> generator = DalleGenerator.load(request, models_root=None)
    >>> images = generator.generate(["a nurse at a hospital"], [1234])
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Protocol, Sequence

from castgate.request import Request


class Generator(Protocol):
    """What ``balance`` needs from a generator."""

    identity: Mapping[str, Any]   # recorded as Manifest.models (checkpoint names and hashes)
    model_hash: str               # recorded in every EXR's metadata

    def generate(self, prompts: Sequence[str], seeds: Sequence[int]) -> Sequence[Any]:
        """One sRGB image per (prompt, seed), the same every time for the same pair."""
        ...


@dataclass
class DalleGenerator:
    """DALL·E mini / mega through castgate's engine, with the request's sampling settings."""

    engine: Any
    settings: Any
    batch_size: int

    @classmethod
    def load(cls, request: Request, models_root: Path | None = None) -> "DalleGenerator":
        """Load the request's checkpoints (as ``castgate generate`` does).

        Raises:
            ModelFolderError: a model folder is missing or incomplete.
        """
        from castgate.engine import TextToImage  # JAX only when generating
        from castgate.generate import _sampling_settings, model_folders

        folders = model_folders(request, models_root)
        engine = TextToImage.load(folders["dalle"], folders["vqgan"], dtype=request.sampling.dtype)
        return cls(engine, _sampling_settings(request), request.sampling.batch_size)

    @property
    def identity(self) -> Mapping[str, Any]:
        return dict(self.engine.identity)

    @property
    def model_hash(self) -> str:
        return self.engine.identity["dalle"]["files"].get("flax_model.msgpack", "")

    def generate(self, prompts: Sequence[str], seeds: Sequence[int]) -> Sequence[Any]:
        return self.engine.generate(list(prompts), list(seeds), self.settings, batch_size=self.batch_size)

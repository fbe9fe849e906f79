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
    """DALL·E mini / mega through castgate's engine, with the request's sampling settings.

    The checkpoints' identity comes from their hashes (:func:`castgate.weights.checkpoints.model_identity`); the
    weights are loaded on the first :meth:`generate`, so a balance with nothing left to generate (or a
    farm frame that only plans and selects) never loads them.
    """

    request: Request
    folders: Mapping[str, Path]
    identity: Mapping[str, Any]
    engine: Any = None

    @classmethod
    def load(cls, request: Request, models_root: Path | None = None) -> "DalleGenerator":
        """Find the request's checkpoints (as ``castgate generate`` does) and hash them.

        Raises:
            ModelFolderError: a model folder is missing or incomplete.
        """
        from castgate.generation.generate import model_folders
        from castgate.weights import checkpoints

        folders = model_folders(request, models_root)
        return cls(request, folders, checkpoints.model_identity(folders["dalle"], folders["vqgan"]))

    @property
    def model_hash(self) -> str:
        return self.identity["dalle"]["files"].get("flax_model.msgpack", "")

    def generate(self, prompts: Sequence[str], seeds: Sequence[int]) -> Sequence[Any]:
        from castgate.errors import ModelFolderError
        from castgate.generation.generate import sampling_settings

        if self.engine is None:
            from castgate.generation.engine import TextToImage  # JAX only when there is something to generate

            self.engine = TextToImage.load(self.folders["dalle"], self.folders["vqgan"],
                                           dtype=self.request.sampling.dtype)
            if self.engine.identity != self.identity:
                raise ModelFolderError("the checkpoint files changed while castgate was reading them",
                                       where=str(self.folders["dalle"].parent),
                                       fix="Wait until the model folders are copied completely, then run again")
        return self.engine.generate(list(prompts), list(seeds), sampling_settings(self.request),
                                    batch_size=self.request.sampling.batch_size)

"""Rerank candidates: drop those showing no person, score the rest with CLIP, keep the best.

The seed study generated 400–600 images per prompt and kept the 100 that CLIP ranked highest among
those showing a person. castgate does the same per plate: ``candidates_per_plate`` candidates are
generated for each plate a role asks for, and this module decides which survive. Nothing is lost
silently: every candidate gets a :class:`Choice` with its score, its rank and, when it is not kept,
the reason, and the generate stage writes all of them into the manifest.

Example:
    >>> scorer = ClipScorer.load(Path("models/clip-vit-base-patch32"))
    >>> choices = rerank(images, prompts, scorer, keep=4)
    >>> [c.index for c in choices if c.kept]
    [7, 2, 11, 0]
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from castgate.errors import ModelFolderError
from castgate.generation import clip_inputs
from castgate.generation.clip_inputs import ClipTokenizer, ImageSettings
from castgate.models.clip import ClipConfig
from castgate.weights import checkpoints

log = logging.getLogger(__name__)

SCORE_KEY = "clip"
"""Key of the CLIP score in a plate's ``scores`` dict in the manifest."""

NO_PERSON = "no person detected"
"""``rejected_reason`` of a candidate in which the person filter found nobody."""

ProgressCallback = Callable[[int, int], None]


# --------------------------------------------------------------------------------------- scoring

@functools.cache
def _compiled_text_embedder(config: ClipConfig) -> Callable:
    """One jitted text encoder per config; it recompiles only for a new batch shape."""
    import jax

    from castgate.models.clip import Clip

    model = Clip(config)
    return jax.jit(lambda params, ids, mask: model.apply({"params": params}, ids, mask,
                                                         method=Clip.embed_text))


@functools.cache
def _compiled_image_embedder(config: ClipConfig) -> Callable:
    """One jitted image encoder per config; it recompiles only for a new batch shape."""
    import jax

    from castgate.models.clip import Clip

    model = Clip(config)
    return jax.jit(lambda params, pixels: model.apply({"params": params}, pixels,
                                                      method=Clip.embed_images))


def _padded_batches(array: np.ndarray, batch_size: int):
    """Yield ``(batch, real_count)`` with every batch padded (by repeating row 0) to ``batch_size``."""
    for start in range(0, len(array), batch_size):
        batch = array[start:start + batch_size]
        real_count = len(batch)
        if real_count < batch_size:
            filler = np.repeat(batch[:1], batch_size - real_count, axis=0)
            batch = np.concatenate([batch, filler])
        yield batch, real_count


@dataclass
class ClipScorer:
    """A loaded CLIP checkpoint that scores images against their prompts.

    Attributes:
        config: the model's sizes.
        params: the weights, already on the device.
        tokenizer: the checkpoint's own tokenizer.
        image_settings: the checkpoint's ``preprocessor_config.json``.
        identity: for the manifest (:func:`castgate.weights.checkpoints.folder_identity`): folder and SHA-256
            of every file used.
    """

    config: ClipConfig
    params: Any
    tokenizer: ClipTokenizer
    image_settings: ImageSettings
    identity: dict

    @classmethod
    def load(cls, folder: Path) -> "ClipScorer":
        """Load a CLIP folder in the published ``openai/clip-vit-base-patch32`` layout.

        Args:
            folder: holds ``config.json``, ``flax_model.msgpack``, ``vocab.json``, ``merges.txt``
                and ``preprocessor_config.json`` (tokenizer JSON files are used when present).

        Returns:
            A ready scorer.

        Raises:
            ModelFolderError: the folder is missing, lacks files (all missing files are named), or
                holds unreadable or mismatched files.
            UnsupportedModelError: the config asks for an architecture castgate does not implement.

        Example:
            >>> scorer = ClipScorer.load(Path("/farm/models/clip-vit-base-patch32"))
        """
        import jax

        folder = Path(folder)
        checkpoints.require_files(folder, clip_inputs.REQUIRED_FILES, what="CLIP")
        config = clip_inputs.read_clip_config(folder)
        image_settings = clip_inputs.read_image_settings(folder)
        vision = config.vision
        if (image_settings.crop_height, image_settings.crop_width) != (vision.image_size, vision.image_size):
            raise ModelFolderError(
                f"preprocessor_config.json crops to {image_settings.crop_height}×{image_settings.crop_width} "
                f"but the model takes {vision.image_size}×{vision.image_size}", where=str(folder),
                fix="preprocessor_config.json and config.json must come from the same checkpoint")
        params = jax.device_put(clip_inputs.load_clip_params(folder, config))
        tokenizer = clip_inputs.load_tokenizer(folder, config.text.max_position_count)
        identity = checkpoints.folder_identity(folder, clip_inputs.REQUIRED_FILES + clip_inputs.OPTIONAL_FILES)
        log.info("loaded CLIP from %s (vision %d layers × %d, text %d layers × %d)", folder,
                 vision.layer_count, vision.hidden_size, config.text.layer_count, config.text.hidden_size)
        return cls(config=config, params=params, tokenizer=tokenizer, image_settings=image_settings,
                   identity=identity)

    @property
    def logit_scale(self) -> float:
        """``exp(logit_scale)`` read from the weights (100 for the published checkpoint)."""
        return float(np.exp(np.asarray(self.params["logit_scale"])))

    def embed_prompts(self, prompts: Sequence[str], batch_size: int = 16) -> np.ndarray:
        """Return L2-normalised text embeddings, float32 ``(len(prompts), projection_dim)``.

        A prompt costs about as much as an image, so the text batch is only padded to the next power
        of two (at most ``batch_size``): a few roles compile a few small shapes, not one big one.
        """
        input_ids, attention_mask = self.tokenizer.tokenize(prompts)
        embed = _compiled_text_embedder(self.config)
        rows = np.stack([input_ids, attention_mask], axis=1)  # (N, 2, T), batched together
        text_batch = min(batch_size, 1 << max(len(rows) - 1, 0).bit_length())
        out = [np.asarray(embed(self.params, batch[:, 0], batch[:, 1]))[:count]
               for batch, count in _padded_batches(rows, text_batch)]
        return np.concatenate(out) if out else np.zeros((0, self.config.projection_dim), np.float32)

    def embed_images(self, images: Sequence[Any] | np.ndarray, batch_size: int = 16,
                     on_progress: ProgressCallback | None = None) -> np.ndarray:
        """Return L2-normalised image embeddings, float32 ``(len(images), projection_dim)``.

        Images are preprocessed one batch at a time (see :func:`castgate.generation.clip_inputs.preprocess_image`)
        and the last batch is padded, so the encoder compiles once per ``batch_size``.
        """
        embed = _compiled_image_embedder(self.config)
        total, out = len(images), []
        for start in range(0, total, batch_size):
            pixels = clip_inputs.preprocess_images(images[start:start + batch_size], self.image_settings)
            batch, count = next(_padded_batches(pixels, batch_size))
            out.append(np.asarray(embed(self.params, batch))[:count])
            if on_progress is not None:
                on_progress(start + count, total)
        return np.concatenate(out) if out else np.zeros((0, self.config.projection_dim), np.float32)

    def score(self, images: Sequence[Any] | np.ndarray, prompts: Sequence[str], batch_size: int = 16,
              on_progress: ProgressCallback | None = None) -> np.ndarray:
        """Score each image against its own prompt: ``exp(logit_scale) · cosine(image, prompt)``.

        Args:
            images: ``(N, H, W, 3)`` float in [0, 1] (sRGB) or uint8, or a sequence of such arrays
                or PIL images (sizes may differ).
            prompts: ``N`` prompts, one per image; repeated prompts are encoded once.
            batch_size: images per compiled call: the image encoder compiles once per distinct
                value, the text encoder once per power-of-two prompt count up to it.
            on_progress: called as ``on_progress(done, total)`` after each image batch.

        Returns:
            float32 ``(N,)``: the same numbers as the diagonal of CLIP's ``logits_per_image``.

        Raises:
            ValueError: ``len(images) != len(prompts)``, ``batch_size < 1``, or a malformed image.

        Example:
            >>> scorer.score(np.zeros((2, 256, 256, 3)), ["a nurse", "a nurse"])
            array([19.2, 19.2], dtype=float32)
        """
        if len(images) != len(prompts):
            raise ValueError(f"got {len(images)} images but {len(prompts)} prompts; give one prompt per image")
        if batch_size < 1:
            raise ValueError(f"batch_size is {batch_size}; use 1 or more")
        if not len(prompts):
            return np.zeros((0,), np.float32)
        unique = list(dict.fromkeys(prompts))
        text_embeds = self.embed_prompts(unique, batch_size)
        image_embeds = self.embed_images(images, batch_size, on_progress)
        row_of = {prompt: row for row, prompt in enumerate(unique)}
        own_text = text_embeds[[row_of[prompt] for prompt in prompts]]
        cosine = np.sum(image_embeds * own_text, axis=-1)
        return (cosine * np.float32(self.logit_scale)).astype(np.float32)


# --------------------------------------------------------------------------------------- person filter

def has_face(image: np.ndarray) -> bool:
    """Default person filter: does the audit's face detector (BlazeFace, :mod:`castgate.audit.faces`) find a face?

    The same detector and threshold as the audit, so a candidate the filter keeps is one the audit can
    read, at every skin tone and down to faces about 20 px wide.

    Args:
        image: ``(H, W, 3)`` uint8, or float in [0, 1] (converted as in :func:`castgate.generation.clip_inputs.to_uint8`).

    Returns:
        True when one or more faces are found.
    """
    from castgate.audit.faces import face_detector

    pixels = np.ascontiguousarray(clip_inputs.to_uint8(image))
    if pixels.ndim == 3 and pixels.shape[-1] == 4:
        pixels = np.ascontiguousarray(pixels[..., :3])
    return face_detector("blazeface").any_face(pixels)


# --------------------------------------------------------------------------------------- selection

@dataclass(frozen=True)
class Choice:
    """What reranking decided for one candidate.

    Attributes:
        index: the candidate's position in the input.
        score: its CLIP score, or None when it was not scored (no person).
        rank: 1 = best among the candidates that show a person, or None when it shows none.
        kept: whether it becomes a plate.
        rejected_reason: why not, in one sentence (None when kept).
    """

    index: int
    score: float | None
    rank: int | None
    kept: bool
    rejected_reason: str | None

    def plate_fields(self) -> dict[str, Any]:
        """The manifest's plate fields: ``scores``, ``rank``, ``kept``, ``rejected_reason``."""
        return {"scores": {} if self.score is None else {SCORE_KEY: self.score}, "rank": self.rank,
                "kept": self.kept, "rejected_reason": self.rejected_reason}


def select_candidates(scores: Sequence[float | None], has_person: Sequence[bool], keep: int) -> list[Choice]:
    """Keep the ``keep`` best-scored candidates among those that show a person.

    Candidates without a person are rejected with ``"no person detected"`` (a score they carry is
    kept in the :class:`Choice` but they get no rank). The rest are ranked by score, highest first,
    ties broken by the lower index; the first ``keep`` are kept and the others get
    ``"ranked N of M by CLIP, below the kept K"``. When fewer than ``keep`` show a person, all of
    them are kept and a warning is logged: the caller decides whether the batch is short.

    Args:
        scores: one per candidate; None allowed only where ``has_person`` is False.
        has_person: one per candidate.
        keep: how many to keep (0 or more).

    Returns:
        One :class:`Choice` per candidate, in input order.

    Raises:
        ValueError: different lengths, negative ``keep``, or a missing/NaN score for a candidate
            that shows a person.

    Example:
        >>> [c.kept for c in select_candidates([0.3, None, 0.9], [True, False, True], keep=1)]
        [False, False, True]
    """
    if len(scores) != len(has_person):
        raise ValueError(f"got {len(scores)} scores but {len(has_person)} person flags; give one of each per candidate")
    if keep < 0:
        raise ValueError(f"keep is {keep}; use 0 or more")
    for index, (score, person) in enumerate(zip(scores, has_person)):
        if person and (score is None or math.isnan(score)):
            raise ValueError(f"candidate {index} shows a person but has no score ({score}); score it first")
    ranked = sorted((index for index, person in enumerate(has_person) if person),
                    key=lambda index: (-float(scores[index]), index))  # type: ignore[arg-type]  # checked above
    rank_of = {index: rank for rank, index in enumerate(ranked, start=1)}
    kept_count = min(keep, len(ranked))
    if len(ranked) < keep:
        log.warning("only %d of %d candidates show a person; keeping %d of the %d asked for",
                    len(ranked), len(scores), len(ranked), keep)
    choices = []
    for index, score in enumerate(scores):
        rank = rank_of.get(index)
        if rank is None:
            reason = NO_PERSON
        elif rank <= kept_count:
            reason = None
        else:
            reason = f"ranked {rank} of {len(ranked)} by CLIP, below the kept {kept_count}"
        choices.append(Choice(index=index, score=None if score is None else float(score), rank=rank,
                              kept=reason is None, rejected_reason=reason))
    return choices


def select_per_role(roles: Sequence[str], scores: Sequence[float | None], has_person: Sequence[bool],
                    keep: Mapping[str, int]) -> list[Choice]:
    """:func:`select_candidates` within each role; ranks and reasons are per role.

    Args:
        roles: each candidate's role.
        scores, has_person: as for :func:`select_candidates`, one per candidate.
        keep: plates to keep per role; every role in ``roles`` must be present.

    Returns:
        One :class:`Choice` per candidate, in input order, with ``index`` the position in the input.

    Raises:
        ValueError: lengths differ, or a role has no ``keep`` entry (and as :func:`select_candidates`).
    """
    if not len(roles) == len(scores) == len(has_person):
        raise ValueError(f"got {len(roles)} roles, {len(scores)} scores and {len(has_person)} person flags; "
                         "give one of each per candidate")
    missing = sorted(set(roles) - set(keep))
    if missing:
        raise ValueError(f"no keep count for role(s) {', '.join(missing)}")
    choices: list[Choice | None] = [None] * len(roles)
    for role in dict.fromkeys(roles):
        members = [index for index, name in enumerate(roles) if name == role]
        local = select_candidates([scores[i] for i in members], [has_person[i] for i in members], keep[role])
        for index, choice in zip(members, local):
            choices[index] = Choice(index=index, score=choice.score, rank=choice.rank, kept=choice.kept,
                                    rejected_reason=choice.rejected_reason)
    return choices  # type: ignore[return-value]


def rerank(images: Sequence[Any] | np.ndarray, prompts: Sequence[str], scorer: ClipScorer, keep: int, *,
           has_person: Callable[[np.ndarray], bool] = has_face, batch_size: int = 16,
           on_progress: ProgressCallback | None = None) -> list[Choice]:
    """Filter candidates for a person, score the survivors with CLIP and keep the best ``keep``.

    Candidates without a person are not scored (their ``score`` is None).

    Args:
        images: the candidates, as for :meth:`ClipScorer.score`.
        prompts: one prompt per candidate.
        scorer: a loaded :class:`ClipScorer`.
        keep: how many to keep.
        has_person: the person filter, called once per image (default: :func:`has_face`, BlazeFace).
        batch_size: CLIP batch size.
        on_progress: ``on_progress(done, total)`` over the scored images.

    Returns:
        One :class:`Choice` per candidate, in input order (see :func:`select_candidates`).

    Raises:
        ValueError: ``len(images) != len(prompts)`` (and as :func:`select_candidates`).
    """
    if len(images) != len(prompts):
        raise ValueError(f"got {len(images)} images but {len(prompts)} prompts; give one prompt per image")
    person = [bool(has_person(image)) for image in images]
    with_person = [index for index, flag in enumerate(person) if flag]
    log.info("person filter: %d of %d candidates show a person", len(with_person), len(person))
    scores: list[float | None] = [None] * len(person)
    if with_person:
        chosen = [images[index] for index in with_person]
        values = scorer.score(chosen, [prompts[index] for index in with_person], batch_size, on_progress)
        for index, value in zip(with_person, values):
            scores[index] = float(value)
    return select_candidates(scores, person, keep)

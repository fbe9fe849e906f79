"""Prompts to DalleBart text tokens: normalise (if the config says so), BPE-tokenise, pad, truncate.

This reproduces dalle-mini's ``DalleBartProcessor``: prompts go through the ``TextNormalizer`` when
``config.normalize_text`` is true, then through the checkpoint's byte-level BPE tokenizer
(``BartTokenizerFast.from_pretrained(folder)``, offline) padded to ``max_text_length`` with
``<pad>`` and truncated so that the row still ends with ``</s>``. The unconditional row used for
super-conditioning is the empty string, tokenised *without* normalisation: ``<s> </s> <pad> ...``.

A prompt longer than ``max_text_length`` tokens is truncated and a warning names it.

Example:
    >>> tokenizer = TextTokenizer.load(Path("dalle-mini"), text_token_count=64, normalize=True)
    >>> tokens, mask = tokenizer.tokenize(["a nurse at night"])
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from castgate.errors import ModelFolderError
from castgate.generation.text_normalizer import TextNormalizer

logger = logging.getLogger(__name__)

WORD_FREQUENCY_FILE = "enwiki-words-frequency.txt"


@dataclass
class TextTokenizer:
    """A checkpoint's tokenizer with dalle-mini's padding rules.

    Attributes:
        tokenizer: the transformers fast tokenizer read from the model folder.
        text_token_count: tokens per row (``max_text_length``).
        normalizer: the prompt normaliser, or None when the config turns normalisation off.
    """

    tokenizer: Any
    text_token_count: int
    normalizer: TextNormalizer | None

    @classmethod
    def load(cls, folder: Path, text_token_count: int, normalize: bool,
             text_vocab_count: int | None = None) -> "TextTokenizer":
        """Read the tokenizer files (vocab.json, merges.txt, ...) of a DalleBart folder.

        Args:
            folder: the DalleBart folder.
            text_token_count: ``max_text_length`` from its config.
            normalize: ``normalize_text`` from its config.
            text_vocab_count: the encoder's embedding rows; the tokenizer must not produce larger ids.

        Raises:
            ModelFolderError: the tokenizer files cannot be read or do not fit the model.
        """
        from castgate.thirdparty import transformers_module

        folder = Path(folder)
        try:
            tokenizer = transformers_module().BartTokenizerFast.from_pretrained(str(folder))
        except Exception as exc:  # transformers raises many types for broken files
            raise ModelFolderError(f"the tokenizer files cannot be read ({type(exc).__name__}: {exc})",
                                   where=str(folder),
                                   fix="Copy vocab.json, merges.txt and tokenizer.json again from the checkpoint") from None
        check_vocab_file(folder, tokenizer.get_vocab())
        if text_vocab_count is not None and len(tokenizer) > text_vocab_count:
            raise ModelFolderError(
                f"the tokenizer has {len(tokenizer)} tokens but encoder_vocab_size is {text_vocab_count}",
                where=str(folder / "vocab.json"),
                fix="The tokenizer files belong to another checkpoint; copy them from the same one as the weights")
        if tokenizer.pad_token_id is None or tokenizer.eos_token_id is None:
            raise ModelFolderError("the tokenizer has no <pad> or </s> token", where=str(folder / "vocab.json"),
                                   fix="Copy the tokenizer files again from the published checkpoint")
        normalizer = TextNormalizer(folder / WORD_FREQUENCY_FILE) if normalize else None
        return cls(tokenizer, text_token_count, normalizer)

    def normalize(self, prompt: str) -> str:
        """The text that is tokenised for ``prompt`` (normalised if the model wants it)."""
        return self.normalizer(prompt) if self.normalizer is not None else prompt

    def tokenize(self, prompts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Token ids and attention mask for prompts, each ``(len(prompts), text_token_count)`` int32.

        Logs a warning naming every prompt that is cut to fit ``text_token_count`` tokens.
        """
        texts = [self.normalize(prompt) for prompt in prompts]
        for prompt, text in zip(prompts, texts):
            token_total = len(self.tokenizer(text)["input_ids"])
            if token_total > self.text_token_count:
                logger.warning("prompt %r is %d tokens long; the model reads %d, so it is cut to %r", prompt,
                               token_total, self.text_token_count, self._kept_text(text))
        return self._encode(texts)

    def tokenize_unconditional(self) -> tuple[np.ndarray, np.ndarray]:
        """The unconditional row: the empty string, not normalised, padded; each ``(1, text_token_count)``."""
        return self._encode([""])

    def _encode(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        encoded = self.tokenizer(texts, padding="max_length", truncation=True, max_length=self.text_token_count,
                                 return_tensors="np")
        return encoded["input_ids"].astype(np.int32), encoded["attention_mask"].astype(np.int32)

    def _kept_text(self, text: str) -> str:
        ids = self.tokenizer(text, truncation=True, max_length=self.text_token_count)["input_ids"]
        return self.tokenizer.decode(ids, skip_special_tokens=True)


def check_vocab_file(folder: Path, vocab: Mapping[str, int]) -> None:
    """Check that the folder's ``vocab.json`` (when present) is a token -> id table that agrees with ``vocab``.

    A fast tokenizer reads ``tokenizer.json`` and never opens ``vocab.json``, so a damaged or foreign
    ``vocab.json`` would otherwise pass unseen into a folder that other tools read differently.

    Raises:
        ModelFolderError: ``vocab.json`` is not JSON, not a token -> id table, or disagrees with the tokenizer.
    """
    path = Path(folder) / "vocab.json"
    if not path.is_file():
        return
    fix = "Copy vocab.json, merges.txt and tokenizer.json again, all from the same checkpoint"
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelFolderError(f"vocab.json is not valid JSON ({exc})", where=str(path), fix=fix) from None
    if not isinstance(table, dict) or not all(isinstance(v, int) and not isinstance(v, bool) for v in table.values()):
        raise ModelFolderError("vocab.json is not a table of tokens to ids", where=str(path), fix=fix)
    differing = [token for token, index in table.items() if vocab.get(token) != index]
    if differing:
        raise ModelFolderError(f"vocab.json disagrees with tokenizer.json on {len(differing)} of {len(table)} tokens "
                               f"(e.g. {differing[0]!r})", where=str(path), fix=fix)

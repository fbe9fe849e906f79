"""Prompt normalisation as dalle-mini applies it before tokenising (when ``config.normalize_text``).

The DALL·E mini/mega checkpoints were trained on text passed through dalle-mini's ``TextNormalizer``;
feeding them raw prompts changes their output. This module reproduces that normaliser step by step
(ftfy, HTML entities, emoji names, ASCII transliteration, lower case, then a series of regular
expression rewrites) and always returns text that starts with a space.

Hashtags (``#nightshift``) are split into words with a word-frequency list, the
``enwiki-words-frequency.txt`` file of the dalle-mini hub repository. It is read from the model
folder only when a prompt has a hashtag; without it such a prompt is refused with a clear error.

One deliberate difference: the reference replaces a literal ``<person>`` by a *random* choice of
"a person" / "someone" / "somebody"; castgate always uses the most frequent, "a person", so the same
prompt always gives the same tokens.

Example:
    >>> TextNormalizer()("A ROBOT   teacher!")
    ' a robot teacher'
"""

from __future__ import annotations

import html
import math
import re
from pathlib import Path
from typing import Callable

from castgate.errors import ModelFolderError

MARK = "xtokx"  # a placeholder word that survives the rewrites (no repeated letters, no punctuation)
PERSON = "a person"
UNKNOWN_WORD_COST = float("inf")

_HASHTAG = re.compile(r"#(\w+)")


class WordSplitter:
    """Split run-together words (hashtags) by the least total cost, cost = log(rank + 1).

    Args:
        ranked_words: words, most frequent first (later duplicates win, as in the reference).
    """

    def __init__(self, ranked_words: list[str]):
        self._cost = {word: math.log(float(rank + 1)) for rank, word in enumerate(ranked_words)}
        self._longest = max((len(word) for word in self._cost), default=1)
        self._separators = re.compile(r"[^a-zA-Z0-9']+")

    @classmethod
    def from_file(cls, path: Path) -> "WordSplitter":
        """Read a frequency list: one word per line, first whitespace-separated field, most frequent first."""
        words = [line.split()[0] for line in Path(path).read_text(encoding="utf8").splitlines() if line.split()]
        return cls(words)

    def __call__(self, text: str) -> str:
        pieces = [word for chunk in self._separators.split(text) for word in self._split_chunk(chunk)]
        return " ".join(pieces)

    def _best_last_word(self, text: str, totals: list[float], end: int) -> tuple[float, int]:
        """Cheapest (total cost, length) of a last word ending at ``end``; shorter wins ties."""
        best = (math.inf, 0)
        for length in range(1, min(end, self._longest) + 1):
            candidate = (totals[end - length] + self._cost.get(text[end - length:end].lower(), UNKNOWN_WORD_COST),
                         length)
            if best[1] == 0 or candidate < best:
                best = candidate
        return best

    def _split_chunk(self, text: str) -> list[str]:
        totals = [0.0]
        for end in range(1, len(text) + 1):
            totals.append(self._best_last_word(text, totals, end)[0])
        words: list[str] = []
        end = len(text)
        while end > 0:
            _, length = self._best_last_word(text, totals, end)
            word = text[end - length:end]
            glued = False
            if word != "'" and words:
                follows_digit = text[end - 1].isdigit() and words[-1][0].isdigit()
                if words[-1] == "'s" or follows_digit:  # keep "'s" and digit runs attached
                    words[-1] = word + words[-1]
                    glued = True
            if not glued:
                words.append(word)
            end -= length
        return list(reversed(words))


# -- the rewrite steps, in the order they run ------------------------------------------------------

def _replace_person_tags(text: str) -> str:
    text = re.sub(r"<person>([,\s]*(and)*[,\s]*<person>)+", " people ", text)
    return text.replace("<person>", f" {PERSON} ")


def _remove_wiki_references(text: str) -> str:
    text = re.sub(r"\A\s*\[\d+\]", "", text)
    return re.sub(r"\[\d+\]\s*\Z", "", text)


def _protect(pattern: str, name: str) -> Callable[[str], str]:
    """Hide a character that later steps would rewrite, where ``pattern`` (with two groups) matches."""
    return lambda text: re.sub(pattern, rf"\1{MARK}{name}{MARK}\2", text)


def _restore(name: str, character: str) -> Callable[[str], str]:
    return lambda text: text.replace(f"{MARK}{name}{MARK}", character)


def _protect_contractions(text: str) -> str:
    # keep the apostrophe of 's 't 'd 'm 'll 're 've
    return re.sub(r"'(?=([stdm]|(ll)|(re)|(ve))\b)", f"{MARK}quote{MARK}", text)


def _space_special_characters(text: str) -> str:
    text = re.sub(r"(\w)-(\w)", r"\1 \2", text)
    return re.sub(r"([%&/$*])", r" \1 ", text)


def _strip_outer_commas(text: str) -> str:
    text = text.strip()
    if text.endswith(","):
        text = text[:-1]
    if text.startswith(","):
        text = text[1:]
    return text.strip()


class TextNormalizer:
    """dalle-mini's prompt normaliser.

    Args:
        word_frequency_file: ``enwiki-words-frequency.txt``, needed only for prompts with hashtags.
    """

    def __init__(self, word_frequency_file: Path | None = None):
        self._word_frequency_file = Path(word_frequency_file) if word_frequency_file else None
        self._splitter: WordSplitter | None = None

    def __call__(self, text: str) -> str:
        """Normalise one prompt.

        Raises:
            ModelFolderError: the prompt has a hashtag and the word-frequency file is missing.
        """
        import emoji
        import ftfy
        from unidecode import unidecode

        text = ftfy.fix_text(text)
        text = html.unescape(html.unescape(text))
        text = emoji.demojize(text)
        text = unidecode(text).lower()
        text = _replace_person_tags(text)
        text = _remove_wiki_references(text)
        text = re.sub(r"<[^<]+?>", " ", text)            # html tags
        text = re.sub(r"http\S+", "", text)              # urls
        for _ in range(2):                                # 1,000,000 -> 1000000
            text = re.sub(r"(\d),(\d{3})", r"\1\2", text)
        text = _protect(r"(\w)\.(\w)", "dot")(text)
        text = _protect_contractions(text)
        text = _protect(r"(\d)/(\d)", "slash")(text)
        text = _space_special_characters(text)
        text = _HASHTAG.sub(lambda match: self._split_words(match.group(1)), text)
        text = re.sub(r"[_#\\]", " ", text)
        text = re.sub(r"['\"`]", ' " ', text)
        text = re.sub(r"[()\[\].,|:;?!=+~\-/{}]", ",", text)
        text = _restore("dot", ".")(text)
        text = _restore("quote", "'")(text)
        text = _restore("slash", "/")(text)
        text = re.sub(r"(\D)(\1{3,})", r"\1", text)       # 4+ repeats of a non-digit -> one
        text = re.sub(r'(\s*"+\s*)+', ' " ', text)
        text = re.sub(r"(\s*,+\s*)+", ", ", text)
        text = re.sub(r"\s+", " ", text)
        return " " + _strip_outer_commas(text)

    def _split_words(self, hashtag: str) -> str:
        if self._splitter is None:
            path = self._word_frequency_file
            if path is None or not path.is_file():
                raise ModelFolderError(
                    f"the prompt has a hashtag (#{hashtag}) and splitting it needs enwiki-words-frequency.txt, "
                    "which is not in the model folder", where=str(path.parent if path else "DalleBart folder"),
                    fix="Copy enwiki-words-frequency.txt from the dalle-mini/dalle-mini hub repository into the "
                        "DalleBart folder, or write the words apart without '#'")
            self._splitter = WordSplitter.from_file(path)
        return self._splitter(hashtag)

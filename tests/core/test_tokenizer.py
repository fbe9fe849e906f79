"""Text path: dalle-mini's normaliser, the BPE tokenizer, padding, truncation and the unconditional row."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from castgate.errors import ModelFolderError
from castgate.generation.text_normalizer import TextNormalizer, WordSplitter
from castgate.generation.tokenizer import TextTokenizer


@pytest.fixture(scope="module")
def cases(dallebart_tiny_dir: Path) -> dict:
    return json.loads((dallebart_tiny_dir / "cases.json").read_text())


@pytest.fixture(scope="module")
def tokenizer(dallebart_tiny_dir: Path) -> TextTokenizer:
    return TextTokenizer.load(dallebart_tiny_dir, text_token_count=16, normalize=True, text_vocab_count=600)


def test_normalised_text_equals_reference(cases):
    normalize = TextNormalizer()
    for case in cases["cases"]:
        assert normalize(case["prompt"]) == case["normalized_text"], case["prompt"]


def test_token_ids_and_masks_equal_reference(tokenizer, cases):
    tokens, mask = tokenizer.tokenize([case["prompt"] for case in cases["cases"]])
    assert tokens.dtype == np.int32 and tokens.shape == (8, 16)
    np.testing.assert_array_equal(tokens, [case["input_ids"] for case in cases["cases"]])
    np.testing.assert_array_equal(mask, [case["attention_mask"] for case in cases["cases"]])


def test_unconditional_row_is_the_empty_string_not_normalised(tokenizer, cases):
    tokens, mask = tokenizer.tokenize_unconditional()
    np.testing.assert_array_equal(tokens[0], cases["uncond"]["input_ids"])
    np.testing.assert_array_equal(mask[0], cases["uncond"]["attention_mask"])
    assert tokenizer.normalize("") == " "  # normalising would change it, so it is not done


def test_too_long_prompt_is_truncated_with_a_warning_naming_it(tokenizer, cases, caplog):
    long_prompt = cases["cases"][6]["prompt"]
    with caplog.at_level(logging.WARNING, logger="castgate.generation.tokenizer"):
        tokens, _ = tokenizer.tokenize([long_prompt, "A nurse"])
    assert tokens[0, -1] == 2  # still ends with </s>
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 1 and long_prompt in messages[0] and "16" in messages[0]


def test_hashtag_needs_the_word_frequency_file(tmp_path):
    normalize = TextNormalizer(tmp_path / "enwiki-words-frequency.txt")
    assert normalize("a nurse, no hashtag") == " a nurse, no hashtag"
    with pytest.raises(ModelFolderError, match="enwiki-words-frequency.txt"):
        normalize("a #nightshift nurse")


def test_hashtags_are_split_with_the_word_frequency_file(tmp_path):
    words = tmp_path / "enwiki-words-frequency.txt"
    words.write_text("the 100\nnight 50\nshift 40\nnurse 30\nnigh 1\n", encoding="utf8")
    assert TextNormalizer(words)("#NightShiftNurse at work") == " night shift nurse at work"


def test_word_splitter_glues_digits_and_possessives():
    splitter = WordSplitter(["the", "nurse", "'s", "day"])
    assert splitter("nurse'sday2024") == "nurse's day 2024"  # unknown digits cost infinity, then glue
    assert splitter("thenurse") == "the nurse"


@pytest.mark.parametrize("raw, normalised", [
    ("1,000,000 workers", " 1000000 workers"),
    ("see https://example.com now", " see now"),
    ("<b>bold</b> chef", " bold chef"),
    ("<PERSON> and <person> at work", " people at work"),
    ("a <person> cooking", " a a person cooking"),
    ("Wow!!!!! a pilot...", " wow, a pilot"),
    ("3.5 nurses on 12/24", " 3.5 nurses on 12/24"),
    ("don't \"quote\" me", ' don\'t " quote " me'),
    ("[12] wiki text [3]", " wiki text"),
    ("rock & roll 50% off", " rock & roll 50 % off"),
    ("café&amp;bar", " cafe & bar"),
])
def test_normaliser_rules(raw, normalised):
    assert TextNormalizer()(raw) == normalised


def test_tokenizer_larger_than_the_embedding_is_refused(dallebart_tiny_dir):
    with pytest.raises(ModelFolderError, match="encoder_vocab_size"):
        TextTokenizer.load(dallebart_tiny_dir, text_token_count=16, normalize=True, text_vocab_count=100)


@pytest.mark.parametrize("damage, words", [
    (lambda vocab: '{"a": 1, broken', "not valid JSON"),
    (lambda vocab: "[1, 2]", "not a table of tokens to ids"),
    (lambda vocab: json.dumps({**vocab, "!": vocab["!"] + 1}), "disagrees with tokenizer.json on 1 of"),
])
def test_finding_32_a_corrupt_or_foreign_vocab_json_is_refused(dallebart_tiny_dir, tmp_path, damage, words):
    """tokenizer.json is what the fast tokenizer reads; a damaged vocab.json beside it must not pass unseen."""
    import shutil

    folder = tmp_path / "dalle"
    shutil.copytree(dallebart_tiny_dir, folder)
    vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
    (folder / "vocab.json").write_text(damage(vocab), encoding="utf-8")
    with pytest.raises(ModelFolderError, match=words) as refused:
        TextTokenizer.load(folder, text_token_count=16, normalize=False)
    assert str(folder / "vocab.json") in str(refused.value) and "same checkpoint" in str(refused.value)

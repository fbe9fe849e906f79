"""The memory-mapped msgpack reader against flax's own reader, and the streaming load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from flax import serialization

from castgate.errors import ModelFolderError
from castgate.weights import checkpoints
from castgate.weights.msgpack_weights import MsgpackWeights


def _flax_flat(path: Path) -> dict:
    return checkpoints.flatten(serialization.msgpack_restore(path.read_bytes()))


@pytest.mark.parametrize("name", ["dallebart-tiny", "vqgan-tiny"])
def test_every_array_equals_flax_restore_exactly(reference_dir, name):
    path = reference_dir / name / "flax_model.msgpack"
    expected = _flax_flat(path)
    with MsgpackWeights.open(path) as weights:
        assert set(weights.arrays) == set(expected)
        for key, ref in weights.arrays.items():
            view = ref.read()
            assert ref.shape == expected[key].shape and ref.dtype == expected[key].dtype
            assert not view.flags.owndata and not view.flags.writeable  # a view into the map, not a copy
            np.testing.assert_array_equal(view, expected[key])
            del view


def test_chunked_bfloat16_and_scalar_leaves_read_like_flax(tmp_path, monkeypatch):
    import ml_dtypes

    rng = np.random.default_rng(0)
    tree = {"a": {"big": rng.standard_normal((3, 50)).astype(np.float32),
                  "half": rng.standard_normal((4, 5)).astype(np.float16)},
            "b": rng.standard_normal((7,)).astype(ml_dtypes.bfloat16), "s": np.float32(2.5)}
    monkeypatch.setattr(serialization, "MAX_CHUNK_SIZE", 64)  # flax splits "big" into 64-byte chunks
    path = tmp_path / "w.msgpack"
    path.write_bytes(serialization.msgpack_serialize(tree))
    monkeypatch.undo()
    expected = _flax_flat(path)
    with MsgpackWeights.open(path) as weights:
        assert len(weights.arrays[("a", "big")].segments) > 1
        for key, ref in weights.arrays.items():
            value = ref.read()
            assert value.dtype == np.asarray(expected[key]).dtype
            np.testing.assert_array_equal(value, expected[key])
        assert weights.dtype_names() == ["bfloat16", "float16", "float32"]


@pytest.mark.parametrize("keep", [0.0, 0.001, 0.3, 0.999])
def test_truncated_file_is_refused_with_the_fix(tmp_path, reference_dir, keep):
    data = (reference_dir / "dallebart-tiny" / "flax_model.msgpack").read_bytes()
    path = tmp_path / "flax_model.msgpack"
    path.write_bytes(data[:int(len(data) * keep)])
    with pytest.raises(ModelFolderError, match="flax_model.msgpack: weights file is (truncated|empty)") as error:
        MsgpackWeights.open(path)
    assert "copy flax_model.msgpack again" in str(error.value)


@pytest.mark.parametrize("data", [b"\xc1" * 64, b"not a msgpack file at all",
                                  serialization.msgpack_serialize({"a": [1, 2]}),
                                  serialization.msgpack_serialize({"a": np.zeros(3)}) + b"\x00"])
def test_corrupt_or_foreign_file_is_refused(tmp_path, data):
    path = tmp_path / "flax_model.msgpack"
    path.write_bytes(data)
    with pytest.raises(ModelFolderError, match="truncated or corrupt"):
        MsgpackWeights.open(path)


def test_a_flipped_length_byte_is_caught_not_misread(tmp_path, reference_dir):
    source = reference_dir / "vqgan-tiny" / "flax_model.msgpack"
    with MsgpackWeights.open(source) as weights:
        first = min(offset for ref in weights.arrays.values() for offset, _ in ref.segments)
    data = bytearray(source.read_bytes())
    data[first - 1] ^= 0x04  # the low byte of the first array's byte count
    path = tmp_path / "flax_model.msgpack"
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFolderError, match="truncated or corrupt"):
        MsgpackWeights.open(path)


def test_load_keeps_the_stored_dtype_without_a_second_copy(dallebart_tiny_dir):
    placed = []

    def place(value):
        placed.append((value.dtype, value.flags.owndata))
        return checkpoints.host_copy(value)

    _, params, _ = checkpoints.load_dallebart(dallebart_tiny_dir, "float32", place=place)
    assert placed and all(dtype == np.float32 and not owns for dtype, owns in placed)  # views, copied once
    leaves = checkpoints.flatten(params)
    assert all(value.flags.owndata and value.dtype == np.float32 for value in leaves.values())


def test_load_in_bfloat16_converts_each_array(dallebart_tiny_dir):
    import ml_dtypes

    _, params32, _ = checkpoints.load_dallebart(dallebart_tiny_dir, "float32")
    _, params16, _ = checkpoints.load_dallebart(dallebart_tiny_dir, "bfloat16")
    flat32, flat16 = checkpoints.flatten(params32), checkpoints.flatten(params16)
    assert flat16.keys() == flat32.keys()
    for key, value in flat16.items():
        assert value.dtype == ml_dtypes.bfloat16
        np.testing.assert_array_equal(value, flat32[key].astype(ml_dtypes.bfloat16))


def test_float16_to_bfloat16_through_float32_is_the_direct_cast():
    import ml_dtypes

    values = np.concatenate([np.random.default_rng(3).standard_normal(100_000).astype(np.float16),
                             np.array([0, -0.0, np.inf, -np.inf, 65504, 6e-8, -6e-8], np.float16)])
    converted = checkpoints.convert(values, np.dtype(ml_dtypes.bfloat16))
    np.testing.assert_array_equal(converted.view(np.uint16), values.astype(ml_dtypes.bfloat16).view(np.uint16))

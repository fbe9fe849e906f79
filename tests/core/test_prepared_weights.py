"""Prepared weights: identical params, trusted only when everything matches, never half-written."""

from __future__ import annotations

import errno
import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from castgate.errors import PreparedWeightsError
from castgate.weights import checkpoints, prepared_weights
from castgate.weights.file_hashes import sha256_file
from castgate.weights.msgpack_weights import MsgpackWeights
from castgate.weights.prepared_weights import PARAMS_FILE, prepare_weights


def _same(left, right):
    a, b = checkpoints.flatten(left), checkpoints.flatten(right)
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].dtype == b[key].dtype
        np.testing.assert_array_equal(a[key], b[key])


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_prepared_params_equal_the_plain_load_and_skip_the_msgpack(tmp_path, dallebart_tiny_dir, dtype,
                                                                   monkeypatch):
    _, plain, _ = checkpoints.load_dallebart(dallebart_tiny_dir, dtype, prepared=False)
    result = prepare_weights(dallebart_tiny_dir, dtype, cache_root=tmp_path)
    assert result["reused"] is False and result["kind"] == "dallebart" and Path(result["path"]).is_dir()
    monkeypatch.setenv("CASTGATE_CACHE", str(tmp_path))
    monkeypatch.setattr(MsgpackWeights, "open", classmethod(lambda cls, path: pytest.fail("read the msgpack")))
    _, mapped, _ = checkpoints.load_dallebart(dallebart_tiny_dir, dtype)
    _same(mapped, plain)


def test_the_engine_makes_the_reference_tokens_from_prepared_weights(tmp_path, dallebart_tiny_dir, vqgan_tiny_dir,
                                                                     monkeypatch):
    from castgate.generation.engine import SamplingSettings, TextToImage

    cases = json.loads((dallebart_tiny_dir / "cases.json").read_text())["cases"]
    monkeypatch.setenv("CASTGATE_CACHE", str(tmp_path))
    prepare_weights(dallebart_tiny_dir, "float32")
    prepare_weights(vqgan_tiny_dir, "bfloat16")  # a VQGAN is always prepared (and loaded) in float32
    monkeypatch.setattr(MsgpackWeights, "open", classmethod(lambda cls, path: pytest.fail("read the msgpack")))
    engine = TextToImage.load(dallebart_tiny_dir, vqgan_tiny_dir)
    tokens = engine.sample_tokens([c["prompt"] for c in cases], list(range(8)), SamplingSettings(3.0, top_k=1))
    np.testing.assert_array_equal(tokens, [c["greedy_tokens"]["3.0"] for c in cases])


def test_a_second_prepare_reuses_the_entry(tmp_path, vqgan_tiny_dir):
    first = prepare_weights(vqgan_tiny_dir, "float32", cache_root=tmp_path)
    again = prepare_weights(vqgan_tiny_dir, "float32", cache_root=tmp_path)
    assert again["reused"] is True and again["path"] == first["path"]


def _damage(entry: Path, how: str) -> None:
    params = entry / PARAMS_FILE
    data = bytearray(params.read_bytes())
    if how == "flipped byte":
        data[-5] ^= 0x01
        params.write_bytes(bytes(data))
    elif how == "truncated":
        params.write_bytes(bytes(data[:-100]))
    elif how == "meta from another dtype":
        meta = json.loads((entry / "meta.json").read_text())
        meta["dtype"] = "float16"
        (entry / "meta.json").write_text(json.dumps(meta))
    elif how == "meta missing":
        (entry / "meta.json").unlink()
    elif how == "header edited":  # same size and recorded hash made to match: the header check still holds
        at = data.index(b'"F32"')
        data[at:at + 5] = b'"F16"'
        params.write_bytes(bytes(data))
        meta = json.loads((entry / "meta.json").read_text())
        meta["params_sha256"] = sha256_file(params)
        (entry / "meta.json").write_text(json.dumps(meta))


@pytest.mark.parametrize("how", ["flipped byte", "truncated", "meta from another dtype", "meta missing",
                                 "header edited"])
def test_a_damaged_entry_is_never_trusted_and_the_plain_load_runs(tmp_path, vqgan_tiny_dir, monkeypatch, caplog,
                                                                   how):
    monkeypatch.setenv("CASTGATE_CACHE", str(tmp_path))
    entry = Path(prepare_weights(vqgan_tiny_dir, "float32")["path"])
    _damage(entry, how)
    with caplog.at_level(logging.WARNING, logger="castgate.weights.prepared_weights"):
        _, params, _ = checkpoints.load_vqgan(vqgan_tiny_dir, "float32")
    assert "ignoring the prepared weights" in caplog.text and str(entry) in caplog.text
    _same(params, checkpoints.load_vqgan(vqgan_tiny_dir, "float32", prepared=False)[1])
    again = prepare_weights(vqgan_tiny_dir, "float32")  # prepare replaces the damaged entry
    assert again["reused"] is False
    monkeypatch.setattr(MsgpackWeights, "open", classmethod(lambda cls, path: pytest.fail("read the msgpack")))
    _same(checkpoints.load_vqgan(vqgan_tiny_dir, "float32")[1], params)


def test_an_unwritable_cache_folder_is_a_clear_error_and_loads_still_work(tmp_path, vqgan_tiny_dir, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(PreparedWeightsError, match="cannot be written.*CASTGATE_CACHE"):
        prepare_weights(vqgan_tiny_dir, "float32", cache_root=blocker)
    monkeypatch.setenv("CASTGATE_CACHE", str(blocker))
    assert checkpoints.load_vqgan(vqgan_tiny_dir)[1]


def test_a_full_disk_leaves_nothing_a_later_load_could_trust(tmp_path, vqgan_tiny_dir, monkeypatch):
    real_write = prepared_weights._write_params

    def fill_up(path, *args):
        real_write(path, *args)
        with open(path, "ab") as handle:
            handle.write(b"x")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(prepared_weights, "_write_params", fill_up)
    with pytest.raises(PreparedWeightsError, match="the cache folder is full"):
        prepare_weights(vqgan_tiny_dir, "float32", cache_root=tmp_path)
    assert list((tmp_path / "prepared").iterdir()) == []  # no entry, no temporary folder


def test_two_processes_preparing_at_once_both_succeed_with_one_entry(tmp_path, vqgan_tiny_dir):
    script = textwrap.dedent(f"""
        import json
        from castgate.weights.prepared_weights import prepare_weights
        print(json.dumps(prepare_weights({str(vqgan_tiny_dir)!r}, "float32", cache_root={str(tmp_path)!r})))
    """)
    runs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env={**os.environ, "JAX_PLATFORMS": "cpu"}) for _ in range(2)]
    results = []
    for run in runs:
        out, err = run.communicate(timeout=120)
        assert run.returncode == 0, err[-2000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert results[0]["path"] == results[1]["path"]
    assert [p.name for p in (tmp_path / "prepared").iterdir()] == [Path(results[0]["path"]).name]
    _same(prepared_weights.load_prepared("vqgan", vqgan_tiny_dir, json.loads((vqgan_tiny_dir / "config.json")
                                         .read_text()), checkpoints.vqgan_module_shapes(
                                             checkpoints.read_checked_config(vqgan_tiny_dir, "vqgan")[0]),
                                         "float32", cache_root=tmp_path),
          checkpoints.load_vqgan(vqgan_tiny_dir, prepared=False)[1])


def test_an_entry_is_keyed_by_checkpoint_config_and_dtype(tmp_path, copy_model_folder, vqgan_tiny_dir):
    first = prepare_weights(vqgan_tiny_dir, "float32", cache_root=tmp_path)["path"]
    folder = copy_model_folder(vqgan_tiny_dir)
    raw = json.loads((folder / "config.json").read_text())
    raw["dropout"] = 0.1  # a field the params do not depend on still makes another entry: never a guess
    (folder / "config.json").write_text(json.dumps(raw))
    assert prepare_weights(folder, "float32", cache_root=tmp_path)["path"] != first

"""``castgate models verify``: exit codes, text and --json."""

from __future__ import annotations

import json

from click.testing import CliRunner

from castgate_cli.main import cli


def _run(*args: str):
    return CliRunner().invoke(cli, ["models", *args])


def test_help_of_group_and_command():
    assert _run("--help").exit_code == 0
    result = _run("verify", "--help")
    assert result.exit_code == 0 and "FOLDER" in result.output


def test_verify_a_good_folder_exits_0(dallebart_tiny_dir):
    result = _run("verify", str(dallebart_tiny_dir))
    assert result.exit_code == 0, result.output
    assert "dallebart (OK)" in result.output and "flax_model.msgpack" in result.output


def test_verify_json(vqgan_tiny_dir):
    result = _run("verify", str(vqgan_tiny_dir), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["kind"] == "vqgan" and report["ok"] is True
    assert {row["name"] for row in report["files"]} >= {"config.json", "flax_model.msgpack"}


def test_verify_missing_file_exits_2_naming_it(copy_model_folder, vqgan_tiny_dir):
    folder = copy_model_folder(vqgan_tiny_dir)
    (folder / "flax_model.msgpack").unlink()
    result = _run("verify", str(folder), "--json")
    assert result.exit_code == 2
    error = json.loads(result.output)
    assert error["type"] == "ModelFolderError" and "missing flax_model.msgpack" in error["error"]


def test_verify_shape_mismatch_exits_2_and_lists_the_problem(copy_model_folder, dallebart_tiny_dir):
    folder = copy_model_folder(dallebart_tiny_dir)
    raw = json.loads((folder / "config.json").read_text())
    raw["encoder_vocab_size"] = 700
    (folder / "config.json").write_text(json.dumps(raw))
    result = _run("verify", str(folder))
    assert result.exit_code == 2
    assert "model/encoder/embed_tokens/embedding has shape (600, 32)" in result.output
    assert "(700, 32)" in result.output


def test_verify_missing_folder_exits_2():
    result = _run("verify", "/nonexistent/castgate-models")
    assert result.exit_code == 2 and "not found" in result.output


def test_verify_deep_and_rehash(vqgan_tiny_dir):
    result = _run("verify", str(vqgan_tiny_dir), "--deep", "--rehash", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["ok"] is True and report["deep"] is True
    text = _run("verify", str(vqgan_tiny_dir), "--deep")
    assert "deep: every weight read" in text.output


def test_prepare_then_prepare_again(dallebart_tiny_dir, vqgan_tiny_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("CASTGATE_CACHE", str(tmp_path))
    result = _run("prepare", str(dallebart_tiny_dir), str(vqgan_tiny_dir), "--dtype", "bfloat16", "--json")
    assert result.exit_code == 0, result.output
    dalle, vqgan = json.loads(result.output)["prepared"]
    assert (dalle["kind"], dalle["dtype"], dalle["reused"]) == ("dallebart", "bfloat16", False)
    assert vqgan["dtype"] == "float32" and "always loads and decodes in float32" in vqgan["note"]
    again = _run("prepare", str(dallebart_tiny_dir), "--dtype", "bfloat16")
    assert again.exit_code == 0 and "already prepared" in again.output


def test_prepare_refuses_what_it_cannot_prepare(reference_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("CASTGATE_CACHE", str(tmp_path))
    assert _run("prepare", str(tmp_path / "nowhere")).exit_code == 2
    result = _run("prepare", str(reference_dir / "clip-tiny"))
    assert result.exit_code == 2 and "only DalleBart and VQGAN folders" in result.output

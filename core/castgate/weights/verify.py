"""``castgate models verify DIR``: check a model folder the way loading would, without loading it.

Files, config, tokenizer and weight names, shapes and dtypes (from the msgpack structure; with ``deep``
every weight is read, one array at a time, and checked finite), and each file's size and SHA-256.

Example:
    >>> report = verify_model_folder(Path("models/dalle-mini"))
    >>> report["kind"], report["ok"]
    ('dallebart', True)
    >>> print(describe_verification(report))
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from castgate.errors import CastgateError, ModelFolderError
from castgate.generation.tokenizer import TextTokenizer
from castgate.weights import checkpoints
from castgate.weights.file_hashes import cached_sha256
from castgate.weights.msgpack_weights import MsgpackWeights


def _file_rows(folder: Path, rehash: bool) -> list[dict[str, Any]]:
    return [{"name": path.name, "size": path.stat().st_size, "sha256": cached_sha256(path, rehash=rehash)}
            for path in sorted(folder.iterdir()) if path.is_file() and not path.name.startswith(".")]


def _weights_dtype(path: Path) -> str | None:
    """The stored dtypes, from the msgpack structure (no array is read)."""
    try:
        with MsgpackWeights.open(path) as weights:
            names = weights.dtype_names()
    except CastgateError:
        return None
    return ",".join(names) if names else None


def verify_model_folder(path: Path, *, deep: bool = False, rehash: bool = False) -> dict[str, Any]:
    """Check a model folder the way loading would: files, config, tokenizer and weight shapes.

    Names, shapes and dtypes of the weights come from the msgpack structure; no weight is read
    unless ``deep``. File hashes are remembered while a file is unchanged.

    Args:
        path: a DalleBart, VQGAN (or CLIP, recognised and listed only) folder.
        deep: also read every weight (one array at a time) and check that all values are finite.
        rehash: hash every file again instead of trusting remembered hashes.

    Returns:
        ``{"path", "kind", "config", "files": [{"name", "size", "sha256"}], "problems": [...], "ok"}``;
        ``config`` summarises the sizes; ``problems`` holds one message per problem (file, field or
        parameter named, with the fix).

    Raises:
        ModelFolderError: the folder or a file the kind needs is missing (every missing file named).
    """
    folder = Path(path)
    if not folder.is_dir():
        raise ModelFolderError("model folder not found", where=str(folder),
                               fix="Give the folder that holds config.json and flax_model.msgpack")
    raw = checkpoints.read_config(folder)
    kind = checkpoints.model_kind(raw)
    problems: list[str] = []
    summary: dict[str, Any] = {}
    if kind == "dallebart":
        checkpoints.require_files(folder, checkpoints.DALLEBART_FILES, what="DalleBart")
        try:
            config = checkpoints.dallebart_config_from_dict(raw, str(folder / "config.json"))
            summary = _dallebart_summary(config, raw)
            checkpoints.check_dallebart_weights(folder, config)
            if deep:
                checkpoints.check_weights_finite(folder / "flax_model.msgpack")
            TextTokenizer.load(folder, config.text_token_count, bool(raw.get("normalize_text")),
                               config.text_vocab_count)
        except CastgateError as exc:
            problems.append(str(exc))
        if raw.get("normalize_text") and not (folder / checkpoints.WORD_FREQUENCY_FILE).is_file():
            summary["note"] = (f"{checkpoints.WORD_FREQUENCY_FILE} is absent: prompts with #hashtags will be refused "
                               "(copy it from the dalle-mini/dalle-mini hub repository to allow them)")
    elif kind == "vqgan":
        checkpoints.require_files(folder, checkpoints.VQGAN_FILES, what="VQGAN")
        try:
            vq_config = checkpoints.vqgan_config_from_dict(raw, str(folder / "config.json"))
            summary = {"codes": vq_config.code_count, "downsample_factor": vq_config.downsample_factor,
                       "channels": vq_config.channel_count,
                       "channel_multipliers": list(vq_config.channel_multipliers),
                       "code_width": vq_config.code_width}
            checkpoints.check_vqgan_weights(folder, vq_config)
            if deep:
                checkpoints.check_weights_finite(folder / "flax_model.msgpack")
        except CastgateError as exc:
            problems.append(str(exc))
    elif kind == "clip":
        summary = {"projection_dim": raw.get("projection_dim")}
    else:
        problems.append(f"{folder / 'config.json'}: cannot tell what model this is (no model_type dallebart, no "
                        "VQGAN ch_mult, no CLIP text_config/vision_config). Point to a DalleBart, VQGAN or CLIP folder.")
    if kind in ("dallebart", "vqgan"):
        summary["weights_dtype"] = _weights_dtype(folder / "flax_model.msgpack")
        if raw.get(checkpoints.DEMO_MARKER):
            summary["demo"] = "castgate demo checkpoint with random weights (draws noise)"
    return {"path": str(folder), "kind": kind, "config": summary, "files": _file_rows(folder, rehash),
            "problems": problems, "ok": not problems, "deep": deep}


def _dallebart_summary(config, raw: dict[str, Any]) -> dict[str, Any]:
    architecture = {(1024, 12): "mini-1", (2048, 24): "mega-1"}.get(
        (config.embed_count, config.decoder_layer_count), "custom")
    return {"architecture": architecture, "d_model": config.embed_count,
            "layers": [config.encoder_layer_count, config.decoder_layer_count],
            "heads": [config.encoder_head_count, config.decoder_head_count],
            "image_vocab_size": config.image_vocab_count, "image_length": config.image_token_count,
            "max_text_length": config.text_token_count, "normalize_text": bool(raw.get("normalize_text"))}


def describe_verification(report: dict[str, Any]) -> str:
    """A few lines for people: kind, summary, files, problems."""
    lines = [f"{report['path']}: {report['kind']}" + (" (OK)" if report["ok"] else " (PROBLEMS)")
             + (" [deep: every weight read]" if report.get("deep") else "")]
    for key, value in report["config"].items():
        lines.append(f"  {key}: {json.dumps(value) if not isinstance(value, str) else value}")
    lines.append("  files:")
    for row in report["files"]:
        lines.append(f"    {row['name']:<28} {row['size']:>12,d}  {row['sha256'][:16]}…")
    for problem in report["problems"]:
        lines.append(f"  problem: {problem}")
    return "\n".join(lines)

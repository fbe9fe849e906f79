"""Never touch what castgate did not make (issue 14, findings 3, 11, 12, 17, 21): temp files, symlinks,
bounded reads, hostile manifests."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import pytest

from batch_factory import labelled, make_batch
from castgate.batch.checks import PlateFilesMatch
from castgate.batch.fileio import (UnsafePathError, atomic_write_bytes, ensure_inside, read_regular_file,
                                   remove_stale_temp_files, temp_prefix)
from castgate.batch.manifest import manifest_path, read_manifest
from castgate.errors import CastgateError, ManifestError, OutputFolderError
from castgate.generation.generate import _check_output, prepare_output, check_free_space
from castgate.review import review_plate


@pytest.fixture()
def batch(tmp_path: Path) -> Path:
    return make_batch(tmp_path / "b", {"nurse": labelled(4, gender="female", skin_group="lighter")})


def test_finding_3_only_castgate_temp_files_of_dead_processes_are_removed(tmp_path: Path):
    mine_dead = tmp_path / f".castgate-tmp.{temp_prefix().split('.')[2]}.999999999.abc.plate.exr"
    mine_live = tmp_path / f"{temp_prefix()}abc.plate.png"
    elsewhere = tmp_path / ".castgate-tmp.other-host.1.abc.plate.png"
    users = [tmp_path / ".env.tmpl", tmp_path / ".gitlab-ci.tmpl.yml", tmp_path / ".x.tmp.exr"]
    for path in [mine_dead, mine_live, elsewhere, *users]:
        path.write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / mine_dead.name).write_bytes(b"x")
    assert remove_stale_temp_files(tmp_path) == [mine_dead]
    assert all(p.exists() for p in [mine_live, elsewhere, *users, tmp_path / "sub" / mine_dead.name])


def test_finding_3_a_folder_of_the_users_files_is_refused(tmp_path: Path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / ".env.tmpl").write_text("SECRET=1")
    with pytest.raises(OutputFolderError, match="not a castgate batch"):
        prepare_output(tmp_path / "out")
    assert os.listdir(tmp_path / "out") == [".env.tmpl"]


def test_an_existing_batch_and_a_new_folder_are_accepted(batch: Path, tmp_path: Path):
    _check_output(batch)
    _check_output(tmp_path / "new" / "folder")
    assert not (tmp_path / "new").exists()  # checking writes nothing


def test_finding_11_symlinked_batch_folders_are_refused(batch: Path, tmp_path: Path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (batch / "contact").symlink_to(outside)
    with pytest.raises(UnsafePathError, match="contact is a symbolic link"):
        _check_output(batch)
    with pytest.raises(UnsafePathError):
        atomic_write_bytes(batch / "contact" / "nurse.png", b"x", root=batch)
    assert os.listdir(outside) == []


def test_finding_11_a_symlinked_lock_is_not_followed(batch: Path, tmp_path: Path):
    target = tmp_path / "elsewhere.lock"
    (batch / ".manifest.lock").unlink(missing_ok=True)
    (batch / ".manifest.lock").symlink_to(target)
    with pytest.raises(CastgateError, match="symbolic link"):
        review_plate(batch, "b_nurse_0000", {"gender": "male"}, reviewer="ana")
    assert not target.exists()


def test_ensure_inside_refuses_escapes(tmp_path: Path):
    with pytest.raises(UnsafePathError):
        ensure_inside(tmp_path, tmp_path / ".." / "x")
    assert ensure_inside(tmp_path, tmp_path / "a" / "b") == tmp_path / "a" / "b"


def test_finding_12_a_fifo_or_dev_zero_behind_a_plate_does_not_hang(batch: Path):
    manifest = read_manifest(batch)
    fifo = batch / manifest.plates[0].files["png"].path
    fifo.unlink()
    os.mkfifo(fifo)
    zero = batch / manifest.plates[1].files["png"].path
    zero.unlink()
    zero.symlink_to("/dev/zero")
    problems = PlateFilesMatch().find_problems(manifest, batch)
    assert problems and {"b_nurse_0000", "b_nurse_0001"} <= set(problems[0].plate_ids)
    assert "not a regular file" in problems[0].message
    with pytest.raises(UnsafePathError, match="not a regular file"):
        read_regular_file(zero)


def test_finding_12_an_oversized_plate_file_is_refused(tmp_path: Path):
    big = tmp_path / "big.png"
    with open(big, "wb") as handle:
        handle.truncate(2048)
    with pytest.raises(UnsafePathError, match="above the limit"):
        read_regular_file(big, max_bytes=1024)


def _png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares a huge image (the data is one empty row)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00")) + chunk(b"IEND", b"")


@pytest.mark.parametrize("side", [20_000, 12_000])
def test_finding_21_a_tiny_png_declaring_a_huge_image_is_refused(tmp_path: Path, side: int):
    from castgate.audit.image import PlateImageError, read_audit_image
    from castgate.report.thumbnails import thumbnail_data_uri

    path = tmp_path / "bomb.png"
    path.write_bytes(_png_declaring(side, side))
    assert path.stat().st_size < 100
    assert thumbnail_data_uri(path) is None  # left out of the report, not a crash
    with pytest.raises(PlateImageError, match="too large"):
        read_audit_image(path)


@pytest.mark.parametrize("content, message", [
    (b"\x89PNG\x00\x01binary", "not UTF-8|NUL"),
    (b"[" * 200_000 + b"]" * 200_000, "nested too deeply|not valid JSON"),
    (b'{"batch": "b\\u0000"}', "NUL"),
    (b"[1, 2]", "not a JSON object"),
])
def test_finding_17_hostile_manifests_are_clean_errors(tmp_path: Path, content: bytes, message: str):
    manifest_path(tmp_path).write_bytes(content)
    with pytest.raises(ManifestError, match=message):
        read_manifest(tmp_path)


def test_finding_23_free_space_is_checked_against_an_estimate(tmp_path: Path):
    with pytest.raises(OutputFolderError, match="GB, but only"):
        check_free_space(tmp_path, 10 ** 9)
    check_free_space(tmp_path, 1)

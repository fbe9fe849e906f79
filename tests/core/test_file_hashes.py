"""SHA-256 computed once per file version, remembered by path, size, times, inode and device."""

from __future__ import annotations

import os

import pytest

from castgate.weights import file_hashes
from castgate.weights.file_hashes import cached_sha256, sha256_file


@pytest.fixture
def counted(monkeypatch):
    calls = []
    real = file_hashes.sha256_file

    def counting(path):
        calls.append(path)
        return real(path)

    monkeypatch.setattr(file_hashes, "sha256_file", counting)
    return calls


def test_a_file_is_hashed_once_while_it_is_unchanged(tmp_path, counted):
    path = tmp_path / "weights.bin"
    path.write_bytes(b"a" * 5000)
    first = cached_sha256(path, cache_root=tmp_path / "cache")
    assert first == sha256_file(path) and len(counted) == 1
    assert cached_sha256(path, cache_root=tmp_path / "cache") == first and len(counted) == 1
    assert cached_sha256(tmp_path / "." / "weights.bin", cache_root=tmp_path / "cache") == first  # same file
    assert len(counted) == 1


@pytest.mark.parametrize("change", ["content", "mtime", "replace"])
def test_any_change_is_hashed_again(tmp_path, counted, change):
    path = tmp_path / "weights.bin"
    path.write_bytes(b"a" * 5000)
    cache = tmp_path / "cache"
    first = cached_sha256(path, cache_root=cache)
    stat = path.stat()
    if change == "content":  # same size, same mtime, different bytes: the change time still moves
        with open(path, "r+b") as handle:
            handle.write(b"b")
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    elif change == "mtime":
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    else:  # a new file renamed over it: a new inode
        (tmp_path / "new.bin").write_bytes(b"c" * 5000)
        os.replace(tmp_path / "new.bin", path)
    second = cached_sha256(path, cache_root=cache)
    assert len(counted) == 2 and second == sha256_file(path)
    assert (second == first) == (change == "mtime")


def test_rehash_ignores_the_record(tmp_path, counted):
    path = tmp_path / "weights.bin"
    path.write_bytes(b"x")
    cached_sha256(path, cache_root=tmp_path / "cache")
    cached_sha256(path, cache_root=tmp_path / "cache", rehash=True)
    assert len(counted) == 2


def test_a_forged_record_for_another_file_version_is_not_trusted(tmp_path, counted):
    path = tmp_path / "weights.bin"
    path.write_bytes(b"x")
    cache = tmp_path / "cache"
    cached_sha256(path, cache_root=cache)
    record = next((cache / "hashes").glob("*.json"))
    record.write_text(record.read_text().replace('"size": 1', '"size": 2'))
    assert cached_sha256(path, cache_root=cache) == sha256_file(path) and len(counted) == 2
    record.write_text("{not json")
    assert cached_sha256(path, cache_root=cache) == sha256_file(path) and len(counted) == 3


def test_an_unwritable_cache_only_costs_the_saving(tmp_path, counted):
    path = tmp_path / "weights.bin"
    path.write_bytes(b"x")
    blocked = tmp_path / "a-file-not-a-folder"
    blocked.write_text("")
    assert cached_sha256(path, cache_root=blocked) == sha256_file(path)
    assert cached_sha256(path, cache_root=blocked) == sha256_file(path) and len(counted) == 2


def test_default_cache_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CASTGATE_CACHE", str(tmp_path / "c"))
    assert file_hashes.default_cache_root() == tmp_path / "c"
    monkeypatch.delenv("CASTGATE_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert file_hashes.default_cache_root() == tmp_path / "x" / "castgate"

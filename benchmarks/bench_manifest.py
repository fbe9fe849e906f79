"""Manifest bookkeeping cost per plate: bytes written and seconds, at 1 000, 10 000 and 100 000 plates.

What generate and audit record for a batch, without the images: per chunk of plates one journal
append under the batch lock (a line per plate, fsynced), one audit line per plate, then the snapshot
``manifest.json`` at the end of each stage. The per-plate cost must stay flat as batches grow.
Bytes are the process's own ``write()`` bytes (``wchar`` in /proc/self/io), so they count every
journal line, snapshot and temp file.

For contrast, ``--old`` also times the previous scheme (the whole manifest rewritten after every
chunk) at the smaller sizes, where it still finishes.

Usage:
    nice -n 10 python benchmarks/bench_manifest.py [--sizes 1000 10000 100000] [--chunk 16] [--old]
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

from castgate.batch.fileio import atomic_write_text
from castgate.batch.manifest import (AuditRecord, AutoLabel, BatchFiles, FileRef, Manifest, Plate, append_operations,
                                     commit, locked, snapshot_manifest, update_manifest, utc_now)
from castgate.batch.manifest_ops import audit_op, gen_op


def written_bytes() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise RuntimeError("no /proc/self/io")


def header(count: int) -> Manifest:
    roles = [{"id": "crowd", "prompt": "a person in a crowd", "count": count}]
    return Manifest(batch="bench", created=utc_now(),
                    request={"batch": {"name": "bench", "seed": 1, "output_template": "{batch}_{role}_{index:06d}",
                                       "quota": None},
                             "models": {}, "sampling": {"candidates_per_plate": 1}, "roles": roles},
                    models={"dalle": {"name": "d", "files": {"flax_model.msgpack": "a" * 64}}},
                    sampling={"candidates_per_plate": 1},
                    colour={"ocio_config": "ocio://x", "exr_colourspace": "ACEScg", "png_colourspace": "sRGB"})


def plate(index: int) -> Plate:
    plate_id = f"bench_crowd_{index:06d}"
    return Plate(id=plate_id, role="crowd", index=index, prompt="a person in a crowd", seed=index,
                 files={"png": FileRef(f"proxies/{plate_id}.png", f"{index:064x}"),
                        "exr": FileRef(f"plates/{plate_id}.exr", f"{index + 1:064x}")})


LABELS = {a: AutoLabel("undetermined" if a == "fitzpatrick" else v, "bench labeller", "bench", "1", 0.9)
          for a, v in (("gender", "female"), ("skin_group", "lighter"), ("fitzpatrick", "III"), ("monk", "4"))}


def journaled(folder: Path, count: int, chunk: int) -> None:
    """Generate's and audit's bookkeeping as castgate does it now."""
    files = BatchFiles.of_batch(folder)
    with locked(folder, files=files):
        commit(files, None, header(count))
    for start in range(0, count, chunk):
        with locked(folder, files=files):
            append_operations(files, [gen_op(plate(i)) for i in range(start, min(count, start + chunk))])
    update_manifest(folder, lambda m: m.with_event("generate", generated=count))
    record = AuditRecord("0" * 64, utc_now(), "bench")
    for start in range(0, count, chunk):
        with locked(folder, files=files):
            append_operations(files, [audit_op(plate(i).id, LABELS, record)
                                      for i in range(start, min(count, start + chunk))])
    snapshot_manifest(folder)


def rewritten(folder: Path, count: int, chunk: int) -> None:
    """The previous scheme: the whole manifest rewritten (and fsynced) after every chunk."""
    manifest = header(count)
    for start in range(0, count, chunk):
        manifest = manifest.with_plates([plate(i) for i in range(start, min(count, start + chunk))])
        atomic_write_text(folder / "manifest.json", manifest.to_json())
    record = AuditRecord("0" * 64, utc_now(), "bench")
    for start in range(0, count, chunk):
        manifest = manifest.with_plates([dataclasses.replace(plate(i), labels=LABELS, audit=record)
                                         for i in range(start, min(count, start + chunk))])
        atomic_write_text(folder / "manifest.json", manifest.to_json())


def measure(scheme, count: int, chunk: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="castgate-bench-manifest-") as tmp:
        before, started = written_bytes(), time.perf_counter()
        scheme(Path(tmp), count, chunk)
        return written_bytes() - before, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--chunk", type=int, default=64, help="plates per generate chunk (the sampling batch)")
    parser.add_argument("--old", action="store_true", help="also time the old whole-manifest rewrite (small sizes)")
    args = parser.parse_args()
    print("| scheme | plates | bytes written | bytes / plate | seconds | ms / plate |")
    print("|---|---:|---:|---:|---:|---:|")
    rows = [("journal", journaled, n) for n in args.sizes]
    if args.old:
        rows += [("rewrite (old)", rewritten, n) for n in args.sizes if n <= 4_000]
    for name, scheme, count in rows:
        written, seconds = measure(scheme, count, args.chunk)
        print(f"| {name} | {count:,} | {written:,} | {written / count:,.0f} | {seconds:.2f} | "
              f"{1000 * seconds / count:.3f} |", flush=True)


if __name__ == "__main__":
    main()

"""Loading real-size checkpoints: the old loader against the new one, in fresh processes, in one run.

The script writes checkpoint folders of the published sizes with random weights to a temporary
folder (shapes from ``shared/fixtures/reference/real_configs.json``: DALL·E mega in float16, mini in
float32, the VQGAN f16-16384 in float32), byte for byte in flax's msgpack layout (checked against
``flax.serialization.msgpack_serialize`` on a small tree first), one array at a time. Each case then
runs in a fresh Python process that reports its own wall time for the call and its peak RSS
(``ru_maxrss``). The old loader is castgate's code at ``--old-ref`` (by default the commit before the
memory-mapped loader), taken from git into a temporary folder; the new one is this checkout. All files,
prepared caches included, are deleted at the end.

    nice -n 10 python benchmarks/bench_load.py                    # everything (10-30 minutes, ~12 GB disk)
    nice -n 10 python benchmarks/bench_load.py --repeat 2         # old and new loads in turns, fastest kept
    python benchmarks/bench_load.py --models mini,vqgan --no-generate   # a quicker run
    python benchmarks/bench_load.py --json load.json

Cases: ``old`` / ``new`` ``load_dallebart`` (``load_vqgan``) in float32 and bfloat16 (the new one with
``prepared=False``: the plain path), ``castgate models prepare`` (cold: writes the cache), a load from
the prepared cache (warm: its hash remembered; first: hashed on this host), ``TextToImage.load`` of mega
+ VQGAN, ``castgate models verify`` (first: hashes every file; again: hashes remembered) and, with
mini, ``castgate generate`` of one plate and the same command again with nothing left to do.

The old loader's mega float32 case peaks near 16 GB: it is skipped, and the output says so, when less
than 20 GiB of memory is available when it would start (``MemAvailable``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
REAL_CONFIGS = REPO.parent / "shared" / "fixtures" / "reference" / "real_configs.json"
GIB = 1 << 30
OLD_FLOAT32_MEGA_NEEDS = 20 * GIB

# -- checkpoints in flax's msgpack layout, written one array at a time ---------------------------------


def _ext_header(length: int, code: int) -> bytes:
    fixed = {1: 0xD4, 2: 0xD5, 4: 0xD6, 8: 0xD7, 16: 0xD8}
    if length in fixed:
        return struct.pack(">Bb", fixed[length], code)
    if length < 1 << 8:
        return struct.pack(">BBb", 0xC7, length, code)
    if length < 1 << 16:
        return struct.pack(">BHb", 0xC8, length, code)
    return struct.pack(">BIb", 0xC9, length, code)


def _bin_header(length: int) -> bytes:
    if length < 1 << 8:
        return struct.pack(">BB", 0xC4, length)
    if length < 1 << 16:
        return struct.pack(">BH", 0xC5, length)
    return struct.pack(">BI", 0xC6, length)


class MsgpackWriter:
    """Streams a nested ``{name: {...: array}}`` tree the way ``flax.serialization.msgpack_serialize`` packs it."""

    def __init__(self, handle, pool: np.ndarray):
        import msgpack

        self.handle = handle
        self.packer = msgpack.Packer(use_bin_type=True)
        self.pool = pool
        self.cursor = 0

    def write_tree(self, tree: dict) -> None:
        self.handle.write(self.packer.pack_map_header(len(tree)))
        for key, value in tree.items():
            self.handle.write(self.packer.pack(key))
            if isinstance(value, dict):
                self.write_tree(value)
            else:
                self.write_array(*value)

    def write_array(self, shape: tuple[int, ...], dtype: np.dtype) -> None:
        count = int(np.prod(shape, dtype=np.int64))
        nbytes = count * dtype.itemsize
        inner = (self.packer.pack_array_header(3) + self.packer.pack(list(shape)) + self.packer.pack(dtype.name)
                 + _bin_header(nbytes))
        self.handle.write(_ext_header(len(inner) + nbytes, 1) + inner)
        written = 0
        while written < count:  # random values from a pool, each array starting somewhere else
            take = min(count - written, self.pool.size - self.cursor)
            self.handle.write(self.pool[self.cursor:self.cursor + take].astype(dtype).tobytes())
            written += take
            self.cursor = (self.cursor + take + 7919) % (self.pool.size - 1)

    def write_values(self, tree: dict) -> None:
        """Small trees only: write real arrays (for the byte-for-byte check against flax)."""
        self.handle.write(self.packer.pack_map_header(len(tree)))
        for key, value in tree.items():
            self.handle.write(self.packer.pack(key))
            if isinstance(value, dict):
                self.write_values(value)
            else:
                inner = (self.packer.pack_array_header(3) + self.packer.pack(list(value.shape))
                         + self.packer.pack(value.dtype.name) + _bin_header(value.nbytes))
                self.handle.write(_ext_header(len(inner) + value.nbytes, 1) + inner + value.tobytes())


def check_writer_against_flax() -> None:
    import io

    from flax import serialization

    rng = np.random.default_rng(1)
    tree = {"lm_head": {"kernel": rng.standard_normal((3, 5)).astype(np.float16)},
            "model": {"a": {"scale": rng.standard_normal(300).astype(np.float32)},
                      "b": {"embedding": rng.standard_normal((70000,)).astype(np.float16)}}}
    buffer = io.BytesIO()
    MsgpackWriter(buffer, np.zeros(1, np.float32)).write_values(tree)
    if buffer.getvalue() != serialization.msgpack_serialize(tree):
        raise SystemExit("the checkpoint writer no longer matches flax's msgpack layout; fix it first")


def checkpoint_tree(kind: str, raw: dict, dtype: np.dtype) -> dict:
    from castgate.weights import checkpoints

    if kind == "dallebart":
        config = checkpoints.dallebart_config_from_dict(raw, "config.json")
    else:
        config = checkpoints.vqgan_config_from_dict(raw, "config.json")
    shapes = checkpoints.expected_checkpoint_shapes(kind, config)
    return checkpoints.unflatten({tuple(name.split("/")): (shape, dtype) for name, shape in sorted(shapes.items())})


def write_folder(folder: Path, kind: str, raw: dict, dtype: str, pool: np.ndarray) -> int:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(raw, indent=2), encoding="utf-8")
    if kind == "dallebart":  # the demo tokenizer files: loading needs a tokenizer, its content does not matter
        from castgate.weights.demo_models import build_tokenizer_files

        for name, text in build_tokenizer_files().items():
            if name in ("vocab.json", "merges.txt"):
                (folder / name).write_text(text, encoding="utf-8")
    with open(folder / "flax_model.msgpack", "wb") as handle:
        MsgpackWriter(handle, pool).write_tree(checkpoint_tree(kind, raw, np.dtype(dtype)))
    return (folder / "flax_model.msgpack").stat().st_size


# -- one case per fresh process ----------------------------------------------------------------------

CASE = textwrap.dedent("""
    import json, os, resource, sys, time
    what, folder, dtype, extra = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    from castgate.weights import checkpoints
    import jax  # imported before timing: both loaders need it
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    before = resource.getrusage(resource.RUSAGE_SELF)
    kwargs = {"prepared": False} if "plain" in extra else {}
    start = time.perf_counter()
    if what == "dallebart":
        result = checkpoints.load_dallebart(folder, dtype, **kwargs)
    elif what == "vqgan":
        result = checkpoints.load_vqgan(folder, dtype, **kwargs)
    elif what == "engine":
        from castgate.generation.engine import TextToImage
        result = TextToImage.load(folder, extra[0], dtype)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    peak = after.ru_maxrss * 1024
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    print(json.dumps({"seconds": elapsed, "cpu_seconds": cpu, "peak_rss": peak, "baseline_rss": baseline}))
""")


def _best(kept: dict, result: dict) -> dict:
    if "seconds" not in kept or "error" in kept:
        return result
    if "error" in result or result["seconds"] >= kept["seconds"]:
        return kept
    return result


def mem_available() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


def run_case(code_root: Path, what: str, folder: Path, dtype: str, *extra: str, env: dict) -> dict:
    environment = {**env, "PYTHONPATH": f"{code_root / 'core'}{os.pathsep}{code_root / 'cli'}"}
    done = subprocess.run([sys.executable, "-c", CASE, what, str(folder), dtype, *extra], env=environment,
                          capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_command(code_root: Path, args: list[str], env: dict) -> dict:
    """A castgate command in a fresh process: wall time and peak RSS of the child (GNU time)."""
    environment = {**env, "PYTHONPATH": f"{code_root / 'core'}{os.pathsep}{code_root / 'cli'}"}
    start = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-f", "%M %U %S", sys.executable, "-m", "castgate_cli", *args],
                          env=environment, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    kb, user, system = done.stderr.strip().splitlines()[-1].split()
    result = {"seconds": elapsed, "cpu_seconds": float(user) + float(system), "peak_rss": int(kb) * 1024}
    if done.returncode != 0:
        result["error"] = (done.stdout + done.stderr).strip().splitlines()[-2:]
    return result


def old_code(ref: str, into: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", ref, "core", "cli"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def default_old_ref() -> str:
    added = subprocess.run(["git", "-C", str(REPO), "log", "--diff-filter=A", "--format=%H", "--",
                            "core/castgate/weights/msgpack_weights.py"], capture_output=True, text=True).stdout.split()
    return f"{added[-1]}^" if added else "HEAD"


# -- the run -----------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mega,mini,vqgan", help="which checkpoints [mega,mini,vqgan]")
    parser.add_argument("--old-ref", default=None, help="git revision of the old loader [the commit before "
                                                        "core/castgate/weights/msgpack_weights.py was added]")
    parser.add_argument("--dir", type=Path, default=None, help="where to write the temporary checkpoints [$TMPDIR]")
    parser.add_argument("--no-generate", action="store_true", help="skip the `castgate generate` cases (mini)")
    parser.add_argument("--loads-only", action="store_true", help="only the old/new load cases (implies --no-generate)")
    parser.add_argument("--repeat", type=int, default=1, help="old/new load turns per case; the fastest of each "
                                                              "is kept [1]")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = parser.parse_args()
    models = args.models.split(",")
    sys.path[:0] = [str(REPO / "core"), str(REPO / "cli")]
    check_writer_against_flax()
    real = json.loads(REAL_CONFIGS.read_text())
    old_ref = args.old_ref or default_old_ref()
    print(f"memory available at start: {mem_available() / GIB:.1f} GiB; load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores; old loader: {old_ref}", flush=True)

    work = Path(tempfile.mkdtemp(dir=args.dir, prefix="castgate-bench-load-"))
    rows: list[dict] = []
    try:
        env = {**os.environ, "CASTGATE_CACHE": str(work / "cache"), "JAX_PLATFORMS": "cpu"}
        old_root = old_code(old_ref, work / "old")
        pool = np.random.default_rng(0).standard_normal(16 << 20).astype(np.float32) * 0.02
        folders, sizes = {}, {}
        plan = {"mega": ("dallebart", real["dallebart"]["mega"]["config"], "float16"),
                "mini": ("dallebart", real["dallebart"]["mini"]["config"], "float32"),
                "vqgan": ("vqgan", real["vqgan"]["config"], "float32")}
        for name in [m for m in ("mega", "mini", "vqgan") if m in models or (m == "vqgan" and "mega" in models)]:
            kind, raw, dtype = plan[name]
            started = time.perf_counter()
            folders[name] = work / "models" / name
            sizes[name] = write_folder(folders[name], kind, raw, dtype, pool)
            print(f"wrote {name} ({dtype}, {sizes[name] / 1e9:.2f} GB) in {time.perf_counter() - started:.1f} s",
                  flush=True)

        def record(model: str, case: str, dtype: str, result: dict, note: str = "") -> None:
            row = {"model": model, "case": case, "dtype": dtype, "file_gb": round(sizes.get(model, 0) / 1e9, 2),
                   **result, "note": note}
            rows.append(row)
            shown = (f"{result['seconds']:7.1f} s  cpu {result.get('cpu_seconds', 0):6.1f} s  "
                     f"peak {result['peak_rss'] / 1e9:5.2f} GB"
                     if "seconds" in result and "error" not in result
                     else f"ERROR {result['error']}" if "error" in result else "-")
            print(f"  {model:5} {case:34} {dtype:9} {shown}  {note}", flush=True)

        def weights_gb(model: str, dtype: str) -> float:
            from castgate.weights.msgpack_weights import MsgpackWeights, numpy_dtype

            with MsgpackWeights.open(folders[model] / "flax_model.msgpack") as weights:
                count = sum(int(np.prod(ref.shape)) for ref in weights.arrays.values())
            return count * numpy_dtype(dtype).itemsize / 1e9

        for model in [m for m in ("mega", "mini", "vqgan") if m in models]:
            what = "vqgan" if model == "vqgan" else "dallebart"
            dtypes = ["float32"] if model == "vqgan" else ["float32", "bfloat16"]
            for dtype in dtypes:
                limit = f"target {1.3 * weights_gb(model, dtype) + 1:.1f} GB"
                skip_old = model == "mega" and dtype == "float32" and mem_available() < OLD_FLOAT32_MEGA_NEEDS
                if skip_old:
                    record(model, "old load (skipped)", dtype, {},
                           f"skipped: {mem_available() / GIB:.1f} GiB available < 20 GiB; compare at bfloat16")
                old_best: dict = {}
                new_best: dict = {}
                for _ in range(args.repeat):  # in turns, each keeping its fastest: the machine's load moves
                    if not skip_old:
                        old_best = _best(old_best, run_case(old_root, what, folders[model], dtype, env=env))
                    new_best = _best(new_best, run_case(REPO, what, folders[model], dtype, "plain", env=env))
                if not skip_old:
                    record(model, "old load", dtype, old_best)
                speedup = (f"; {old_best['seconds'] / new_best['seconds']:.1f}x faster wall, "
                           f"{old_best['cpu_seconds'] / new_best['cpu_seconds']:.1f}x less CPU"
                           if "seconds" in old_best and "seconds" in new_best and "error" not in old_best
                           and "error" not in new_best else "")
                record(model, "new load, plain path", dtype, new_best, limit + speedup)
            if model == "mega" and not args.loads_only:
                prepare_dtype = "bfloat16"
                record(model, "models prepare (cold: writes cache)", prepare_dtype,
                       run_command(REPO, ["models", "prepare", str(folders[model]), "--dtype", prepare_dtype], env))
                record(model, "load from prepared cache (warm)", prepare_dtype,
                       run_case(REPO, what, folders[model], prepare_dtype, env=env))
                shutil.rmtree(work / "cache" / "hashes", ignore_errors=True)  # a host that never hashed them
                record(model, "load from prepared cache (first)", prepare_dtype,
                       run_case(REPO, what, folders[model], prepare_dtype, env=env), "hashes checkpoint + cache file")
                record(model, "load from prepared cache (warm)", prepare_dtype,
                       run_case(REPO, what, folders[model], prepare_dtype, env=env))
                record(model, "TextToImage.load mega + VQGAN, prepared", prepare_dtype,
                       run_case(REPO, "engine", folders[model], prepare_dtype, str(folders["vqgan"]), env=env))
                shutil.rmtree(work / "cache", ignore_errors=True)  # frees the disk and the prepared entry
                record(model, "TextToImage.load mega + VQGAN, plain", prepare_dtype,
                       run_case(REPO, "engine", folders[model], prepare_dtype, str(folders["vqgan"]), env=env),
                       "hashes every file (first use)")
                shutil.rmtree(work / "cache" / "hashes", ignore_errors=True)  # nothing remembered yet
                record(model, "models verify (first: hashes)", "-",
                       run_command(REPO, ["models", "verify", str(folders[model])], env))
                record(model, "models verify (hashes remembered)", "-",
                       run_command(REPO, ["models", "verify", str(folders[model])], env))
                record(model, "old models verify", "-",
                       run_command(old_root, ["models", "verify", str(folders[model])], env))
        if "mini" in models and not (args.no_generate or args.loads_only):
            generate_cases(work, folders, record, env)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        print(f"deleted {work}", flush=True)
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (wall times stretch "
          "with it; CPU seconds do not)")
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


def generate_cases(work: Path, folders: dict, record, env: dict) -> None:
    request = work / "request.toml"
    request.write_text(textwrap.dedent(f"""
        [batch]
        name = "bench"
        seed = 1

        [models]
        root = "{work / 'models'}"
        dalle = "mini"
        vqgan = "vqgan"

        [sampling]
        batch_size = 1

        [[roles]]
        id = "nurse"
        prompt = "a nurse"
        count = 1
    """), encoding="utf-8")
    batch = work / "batch"
    record("mini", "castgate generate, one plate", "float32",
           run_command(REPO, ["generate", str(request), "-o", str(batch)], env))
    record("mini", "the same again (nothing left)", "float32",
           run_command(REPO, ["generate", str(request), "-o", str(batch)], env), "target < 3 s")


def table(rows: list[dict]) -> str:
    lines = ["| model | file GB | case | dtype | wall s | CPU s | peak RSS GB | note |", "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        seconds = f"{row['seconds']:.1f}" if "seconds" in row and "error" not in row else "-"
        cpu = f"{row['cpu_seconds']:.1f}" if "cpu_seconds" in row and "error" not in row else "-"
        peak = f"{row['peak_rss'] / 1e9:.2f}" if "peak_rss" in row and "error" not in row else "-"
        note = row.get("note", "") + (f" ERROR {row['error']}" if "error" in row else "")
        lines.append(f"| {row['model']} | {row['file_gb']} | {row['case']} | {row['dtype']} | {seconds} | {cpu} | {peak} "
                     f"| {note} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()

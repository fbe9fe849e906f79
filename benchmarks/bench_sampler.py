"""Benchmark castgate's DalleBart sampler and VQGAN decoder against min-dalle (not a test).

Both run the same architecture with random weights (no checkpoint is needed): castgate's jitted
``lax.scan`` sampler with its key/value cache (the code ``TextToImage.generate`` runs), and
min-dalle 0.4.11's PyTorch loop (``pip install -e '.[bench]'`` installs it). Each row is one
architecture, implementation, dtype and batch size:

* ``sample s`` / ``tokens/s``: time to draw 256 image tokens for every plate of the batch, with
  super-conditioning (two decoder rows per plate) and top-k 50;
* ``VQGAN s``: decoding the batch with the real VQGAN f16-16384 architecture (256x256 pixels);
* ``images/s``: plates per second, sampling plus decoding;
* ``vs min-dalle``: min-dalle's time per batch divided by castgate's (above 1: castgate is faster).

The implementations are timed in turns (castgate, min-dalle, castgate, ...) and the best of
``--repeat`` turns is kept, so that a machine whose load changes (shared CI, laptops) treats both
alike. castgate's functions are compiled before the timed runs (``compile s``); min-dalle needs no
compilation. Usage::

    python benchmarks/bench_sampler.py                        # tiny + mini, batch 4, float32 (~10 min)
    python benchmarks/bench_sampler.py --arch mini --batch 1,4 --dtype float32,bfloat16 --repeat 2
    python benchmarks/bench_sampler.py --arch mega --batch 1 --steps 16 --no-min-dalle --no-vqgan  # ~11 GB
    python benchmarks/bench_sampler.py --arch tiny --steps 32 --no-vqgan   # quick smoke run
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import platform
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))

ARCHITECTURES = {
    # name: (layers, d_model, heads, glu width, text vocab, image vocab)
    "tiny": (2, 64, 4, 160, 320, 16384),
    "mini": (12, 1024, 16, 2730, 50264, 16384),
    "mega": (24, 2048, 32, 4096, 50272, 16415),
}
TEXT_TOKENS = 64
VQGAN_CODES = 16384


def dalle_config(arch: str, steps: int):
    from castgate.models.dalle_bart import DalleBartConfig

    layers, width, heads, glu, text_vocab, image_vocab = ARCHITECTURES[arch]
    return DalleBartConfig(text_vocab_count=text_vocab, image_vocab_count=image_vocab, embed_count=width,
                           encoder_layer_count=layers, decoder_layer_count=layers, encoder_head_count=heads,
                           decoder_head_count=heads, encoder_glu_count=glu, decoder_glu_count=glu,
                           text_token_count=TEXT_TOKENS, image_token_count=steps, start_token=image_vocab,
                           eos_token=image_vocab + 1)


def random_params(shapes: dict, seed: int = 0, dtype: str = "float32") -> dict:
    """Random weights placed on the device leaf by leaf (mega does not fit twice in 24 GB)."""
    import jax
    import jax.numpy as jnp

    from castgate.weights.checkpoints import unflatten

    rng = np.random.default_rng(seed)
    return unflatten({path: jax.device_put((rng.standard_normal(shape, dtype=np.float32) * 0.02)
                                           .astype(jnp.dtype(dtype)))
                      for path, shape in sorted(shapes.items())})


def text_inputs(batch: int) -> tuple[np.ndarray, np.ndarray]:
    """Two rows per plate (a 10-token prompt, the empty text)."""
    tokens = np.ones((batch, 2, TEXT_TOKENS), np.int32)
    mask = np.zeros((batch, 2, TEXT_TOKENS), np.int32)
    tokens[:, 0, :10] = np.arange(10) + 100
    tokens[:, :, 0] = 0
    tokens[:, 0, 9] = 2
    tokens[:, 1, 1] = 2
    mask[:, 0, :10] = 1
    mask[:, 1, :2] = 1
    return tokens, mask


def timed(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


class Contender:
    """One implementation at one dtype: ``sample()`` and ``decode()`` for a fixed batch."""

    def __init__(self, impl: str, dtype: str, sample: Callable, decode: Callable | None, compile_s: float | None):
        self.impl, self.dtype, self.sample, self.decode, self.compile_s = impl, dtype, sample, decode, compile_s
        self.sample_s = math.inf
        self.decode_s = math.inf if decode else 0.0


def castgate_contender(config, params, dtype: str, batch: int, vqgan) -> Contender:
    from castgate.generation.engine import compiled_token_sampler

    tokens, mask = text_inputs(batch)
    args = (params, tokens, mask, np.arange(batch, dtype=np.uint32), np.float32(10.0), np.float32(1.0))
    started = time.perf_counter()
    sampler = compiled_token_sampler(config, dtype, 50, VQGAN_CODES, 1).lower(*args).compile()
    compile_s = time.perf_counter() - started
    decode = None
    if vqgan is not None:
        decoder, vqgan_params = vqgan
        codes = np.random.default_rng(batch).integers(0, VQGAN_CODES, (batch, 256), dtype=np.int32)
        compiled = decoder.lower(vqgan_params, codes).compile()
        decode = lambda: np.asarray(compiled(vqgan_params, codes))  # noqa: E731
    return Contender("castgate", dtype, lambda: np.asarray(sampler(*args)), decode, compile_s)


def castgate_vqgan():
    from castgate.generation.engine import compiled_image_decoder
    from castgate.models.vqgan import VQGanConfig
    from castgate.weights import checkpoints

    config = VQGanConfig()
    params = random_params(checkpoints.vqgan_module_shapes(config), seed=1)
    return compiled_image_decoder(config, 1), params


def min_dalle_models(arch: str, with_vqgan: bool):
    import torch
    from min_dalle.models import DalleBartDecoder, DalleBartEncoder, VQGanDetokenizer

    layers, width, heads, glu, text_vocab, image_vocab = ARCHITECTURES[arch]
    torch.manual_seed(0)
    encoder = DalleBartEncoder(layer_count=layers, embed_count=width, attention_head_count=heads,
                               text_vocab_count=text_vocab, text_token_count=TEXT_TOKENS, glu_embed_count=glu,
                               device="cpu").eval()
    decoder = DalleBartDecoder(image_vocab_count=image_vocab, embed_count=width, attention_head_count=heads,
                               glu_embed_count=glu, layer_count=layers, device="cpu").eval()
    return encoder, decoder, (VQGanDetokenizer().eval() if with_vqgan else None), (layers, width)


def min_dalle_contender(models, batch: int, steps: int) -> Contender:
    import torch

    encoder, decoder, detokenizer, (layers, width) = models

    @torch.inference_mode()
    def sample():
        # min_dalle.MinDalle.generate_raw_image_stream's loop, for `batch` images of one prompt
        text_tokens = torch.ones((2, TEXT_TOKENS), dtype=torch.long)
        text_tokens[0, :2] = torch.tensor([0, 2])
        text_tokens[1, :10] = torch.arange(10) + 100
        encoder_state = encoder.forward(text_tokens)
        expanded = [0] * batch + [1] * batch
        text_tokens, encoder_state = text_tokens[expanded], encoder_state[expanded]
        attention_mask = text_tokens.not_equal(1)[:, None, None, :]
        attention_state = torch.zeros((layers, batch * 4, 256, width))
        image_tokens = torch.full((batch, 256 + 1), 2 ** 14 - 1, dtype=torch.long)
        token_indices = torch.arange(256)
        settings = torch.tensor([1.0, 50, 10.0], dtype=torch.float32)
        for i in range(steps):
            image_tokens[:, i + 1], attention_state = decoder.sample_tokens(
                settings=settings, attention_mask=attention_mask, encoder_state=encoder_state,
                attention_state=attention_state, prev_tokens=image_tokens[:, [i]], token_index=token_indices[[i]])
        return image_tokens[:, 1:]

    decode = None
    if detokenizer is not None:
        codes = torch.from_numpy(np.random.default_rng(batch).integers(0, VQGAN_CODES, (batch, 256)))

        @torch.inference_mode()
        def decode():
            z = detokenizer.embedding.forward(codes).view((batch, 16, 16, 256))
            z = detokenizer.post_quant_conv.forward(z.permute(0, 3, 1, 2).contiguous())
            return detokenizer.decoder.forward(z).permute(0, 2, 3, 1).clip(0.0, 1.0)

    return Contender("min-dalle", "float32", sample, decode, None)


def race(contenders: list[Contender], repeat: int) -> None:
    """Time every contender in turns, ``repeat`` rounds, keeping each one's best."""
    for _ in range(repeat):
        for contender in contenders:
            contender.sample_s = min(contender.sample_s, timed(contender.sample))
            if contender.decode is not None:
                contender.decode_s = min(contender.decode_s, timed(contender.decode))


def as_row(arch: str, batch: int, steps: int, contender: Contender) -> dict:
    total = contender.sample_s + contender.decode_s
    return {"arch": arch, "impl": contender.impl, "dtype": contender.dtype, "batch": batch, "steps": steps,
            "compile_s": None if contender.compile_s is None else round(contender.compile_s, 2),
            "sample_s": round(contender.sample_s, 3), "decode_s": round(contender.decode_s, 3),
            "tokens_per_s": round(batch * steps / contender.sample_s, 2),
            "images_per_s": round(batch / total, 4) if steps == 256 and contender.decode else None}


def table(rows: list[dict]) -> str:
    reference = {(r["arch"], r["batch"]): r for r in rows if r["impl"] == "min-dalle"}
    lines = ["| arch | impl | dtype | batch | compile s | sample s | VQGAN s | tokens/s | images/s | vs min-dalle |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        other = reference.get((r["arch"], r["batch"]))
        ratio = ""
        if other and r["impl"] == "castgate":
            ratio = f"{(other['sample_s'] + other['decode_s']) / (r['sample_s'] + r['decode_s']):.2f}x"
        compile_s = "-" if r["compile_s"] is None else f"{r['compile_s']:.1f}"
        images = "-" if r["images_per_s"] is None else f"{r['images_per_s']:.3f}"
        lines.append(f"| {r['arch']} | {r['impl']} | {r['dtype']} | {r['batch']} | {compile_s} | "
                     f"{r['sample_s']:.2f} | {r['decode_s']:.2f} | {r['tokens_per_s']:.1f} | {images} | {ratio} |")
    return "\n".join(lines)


def bench_architecture(arch: str, args, vqgan) -> list[dict]:
    from castgate.weights import checkpoints

    config = dalle_config(arch, args.steps)
    shapes = checkpoints.dallebart_module_shapes(config)
    params = {dtype: random_params(shapes, dtype=dtype) for dtype in args.dtype.split(",")}
    models = None if args.no_min_dalle else min_dalle_models(arch, vqgan is not None)
    rows = []
    for batch in [int(b) for b in args.batch.split(",")]:
        contenders = [castgate_contender(config, params[dtype], dtype, batch, vqgan) for dtype in params]
        if models is not None:
            contenders.append(min_dalle_contender(models, batch, args.steps))
        race(contenders, args.repeat)
        for contender in contenders:
            rows.append(as_row(arch, batch, args.steps, contender))
            print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arch", default="tiny,mini", help="comma list of tiny, mini, mega")
    parser.add_argument("--batch", default="4", help="comma list of plates per batch")
    parser.add_argument("--dtype", default="float32",
                        help="castgate compute dtypes: float32,bfloat16,float16 (min-dalle runs float32)")
    parser.add_argument("--steps", type=int, default=256, help="image tokens per plate (256 = a real image)")
    parser.add_argument("--repeat", type=int, default=1, help="timed turns per contender (best is kept)")
    parser.add_argument("--no-min-dalle", action="store_true", help="skip min-dalle")
    parser.add_argument("--no-vqgan", action="store_true", help="skip VQGAN decoding")
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    args = parser.parse_args()

    import jax

    print(f"# {platform.machine()}, {jax.local_device_count()} {jax.default_backend()} device(s), "
          f"jax {jax.__version__}; command: {' '.join(sys.argv)}", flush=True)
    vqgan = castgate_vqgan() if not args.no_vqgan and args.steps == 256 else None
    rows = []
    for arch in args.arch.split(","):
        rows += bench_architecture(arch, args, vqgan)
        gc.collect()
    print()
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()

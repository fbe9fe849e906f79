"""Generation: prompts to plates with the DALL·E-mini family, then CLIP reranking.

* :mod:`~castgate.generation.text_normalizer`, :mod:`~castgate.generation.tokenizer` — prompts to text tokens;
* :mod:`~castgate.generation.sampling` — image-token sampling with a key/value cache;
* :mod:`~castgate.generation.engine` — tokenizer → DalleBart sampler → VQGAN decoder, batched over devices;
* :mod:`~castgate.generation.clip_inputs`, :mod:`~castgate.generation.rerank`,
  :mod:`~castgate.generation.selection` — CLIP scores and which candidates are kept;
* :mod:`~castgate.generation.generate` — the generate stage: request → plates on disk + manifest.
"""

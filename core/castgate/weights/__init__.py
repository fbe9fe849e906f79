"""Model weights: published checkpoint folders read as they are, and castgate's own caches of them.

* :mod:`~castgate.weights.checkpoints` — ``config.json`` + ``flax_model.msgpack`` folders, identity and dtypes;
* :mod:`~castgate.weights.msgpack_weights` — a ``flax_model.msgpack`` read through a memory map;
* :mod:`~castgate.weights.dtypes` — arrays cast to the compute dtype, bit for bit, on every core;
* :mod:`~castgate.weights.prepared_weights` — params converted once, in a file that later loads by mapping;
* :mod:`~castgate.weights.file_hashes` — SHA-256 of big files, remembered while they do not change;
* :mod:`~castgate.weights.verify` — ``castgate models verify``: a folder checked as loading would, without loading it;
* :mod:`~castgate.weights.demo_models` — tiny random-weight checkpoints for trying castgate without the real ones.
"""

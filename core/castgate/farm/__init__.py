"""Running castgate on a render farm.

* :mod:`castgate.farm.settings`: :class:`FarmSettings` and the ``farm.toml`` file.
* :mod:`castgate.farm.layers`: the job as plain layers (generate shards, merge, audit, gate, publish),
  for any farm manager.
* :mod:`castgate.farm.opencue`: that job for OpenCue: ``build_job`` / ``job_spec`` / ``submit``.
* :mod:`castgate.farm.environment`: at submit time, what a frame needs (castgate's path, ``<env>``,
  the job owner).
* :mod:`castgate.farm.booking`: on the render host, the booked GPUs, GPU memory and cores.

``castgate gate BATCH`` is the pre-check any farm manager can run: exit 0 PASS, 1 blocked,
3 INSUFFICIENT, 2 input error (docs/farm.md).
"""

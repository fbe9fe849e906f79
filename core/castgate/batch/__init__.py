"""The batch folder: its manifest (the one contract between stages), journal, plan and integrity.

* :mod:`~castgate.batch.manifest` — the manifest's data classes, reading and atomic writing;
* :mod:`~castgate.batch.journal`, :mod:`~castgate.batch.manifest_ops` — the hash-chained journal and the
  operations it folds into the manifest;
* :mod:`~castgate.batch.plan` — every plate a request asks for, with its id and seed;
* :mod:`~castgate.batch.checks` — the integrity checks the gate, the panel and the farm share;
* :mod:`~castgate.batch.fileio` — atomic writes, castgate-named temp files, no symlinks, bounded reads;
* :mod:`~castgate.batch.ingest` — ``castgate import``: plates from any generator become a batch.
"""

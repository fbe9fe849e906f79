"""The ``castgate`` command: thin click commands over the core library."""

"""``castgate balance``: cast a crowd that meets the quota, and show what the generator did on its own.

Modules, one job each:

* :mod:`castgate.balance.settings` - the request's ``[balance]`` table (:class:`BalanceSettings`);
* :mod:`castgate.balance.select` - the exact cast selection (pure: an integer program over label cells).

docs/balance.md explains the loop, the selection method and steering.
"""

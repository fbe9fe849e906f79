"""The gate: judge a batch (or a label table) against a quota and say what may go into a shot.

One job per module, read in this order:

* :mod:`~castgate.gate.tally` — count the labels of the kept plates per role, group and pooled;
* :mod:`~castgate.gate.cast`, :mod:`~castgate.gate.cast_verdict` — the *cast* question ("is this set
  of plates balanced?"): exact count distributions, count bands, PASS / FAIL / UNDECIDED with the
  plates to review;
* :mod:`~castgate.gate.evidence`, :mod:`~castgate.gate.error_model` — what each plate's labels say
  about its true value, from the labeller's measured error table and the batch's own reviews;
* :mod:`~castgate.gate.generator` — the *generator* question ("is the model behind these plates
  biased?"): confidence intervals on shares, PASS / FAIL / INSUFFICIENT;
* :mod:`~castgate.gate.judge` — every scope and attribute against the quota, with integrity problems;
* :mod:`~castgate.gate.explain`, :mod:`~castgate.gate.advice`, :mod:`~castgate.gate.text` — the words:
  reasons and explanations, problems with a fix, the lines ``castgate gate`` prints;
* :mod:`~castgate.gate.record` — the verdict stored in the manifest;
* :mod:`~castgate.gate.sources` — the edges: batch folders and label tables on disk;
* :mod:`~castgate.gate.results` — the verdicts and result records they share.

Verdicts, worst first: TAMPERED > UNAUDITABLE > FAIL > INSUFFICIENT > UNDECIDED > PASS. Exit codes
(docs/gate.md): 0 PASS, 1 blocked (FAIL, UNAUDITABLE, TAMPERED), 3 UNDECIDED or INSUFFICIENT.

Example:
    >>> result = gate_batch(batch_dir, "parity", record=False)
    >>> result.verdict, result.exit_code
    ('PASS', 0)
    >>> print(format_result(result))          # a line per role and pooled, with the reason
"""

from castgate.gate.advice import quota_problems
from castgate.gate.explain import pct
from castgate.gate.generator import evaluate_attribute
from castgate.gate.cast import UNDECIDED, CastCount, CastJudgement, ReviewItem, count_band, count_distribution, judge_cast
from castgate.gate.error_model import ErrorModel, ErrorTable, ErrorTableError, load_error_table, resolve_error_table
from castgate.gate.judge import evaluate_cast, evaluate_manifest, evaluate_scope, evaluate_tallies
from castgate.gate.record import record_verdict, verdict_record
from castgate.gate.results import (EXIT_CODES, VERDICTS, AttributeResult, CategoryResult, GateResult,
                                   ScopeResult, worst)
from castgate.gate.sources import default_quota_name, gate_batch, gate_label_table, gate_manifest
from castgate.gate.tally import POOLED, Tally, group_tallies, pool, tally_label_table, tally_plates
from castgate.gate.text import format_result, summarise

__all__ = ["CastCount", "CastJudgement", "ErrorModel", "ErrorTable", "ErrorTableError", "ReviewItem", "UNDECIDED",
           "count_band", "count_distribution", "evaluate_cast", "judge_cast", "load_error_table",
           "resolve_error_table",
           "AttributeResult", "CategoryResult", "EXIT_CODES", "GateResult", "POOLED", "ScopeResult", "Tally",
           "VERDICTS", "default_quota_name", "evaluate_attribute", "evaluate_manifest", "evaluate_scope",
           "evaluate_tallies", "format_result", "gate_batch", "gate_label_table", "gate_manifest",
           "group_tallies", "pct", "pool", "quota_problems", "record_verdict", "summarise", "tally_label_table",
           "tally_plates", "verdict_record", "worst"]

"""The Request tab's "Balanced cast" box: ask ``castgate balance`` for a cast that meets the quota.

Each role's count is its cast size. The box sets the request's ``[balance]`` table (docs/request.md): the
budget (most candidates generated per kept plate), whether steering may be used at all (off unless ticked
here) and the steering phrase per category. Keys the panel does not edit (``quota``, ``first_round``,
``plain_rounds``, ``steering_template``) are kept as the loaded request had them.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from castgate_nuke.qt import QtWidgets

CATEGORIES = (("gender", "female"), ("gender", "male"), ("skin_group", "lighter"), ("skin_group", "darker"))
DEFAULT_BUDGET = 8


class BalanceBox(QtWidgets.QGroupBox):
    """Balanced-cast settings; :meth:`table` gives the ``[balance]`` table (or None when not asked for)."""

    def __init__(self) -> None:
        super().__init__("Balanced cast (castgate balance)")
        self.setCheckable(True)
        self.setChecked(False)
        self.setToolTip("Generate, audit and select until each role's count of plates meets the quota. "
                        "Every candidate is kept on disk with why it was or was not selected.")
        form = QtWidgets.QFormLayout(self)
        self.budget_spin = QtWidgets.QSpinBox()
        self.budget_spin.setRange(1, 64)
        self.budget_spin.setValue(DEFAULT_BUDGET)
        self.budget_spin.setToolTip("The most candidates generated per kept plate (per role: budget × count)")
        form.addRow("Budget per kept plate", self.budget_spin)
        self.steering_check = QtWidgets.QCheckBox("Allow steering: add the phrases below to prompts for short cells")
        self.steering_check.setToolTip("Off unless ticked. Plain prompts are always tried first; every steered "
                                       "plate records the prompt actually used.")
        form.addRow(self.steering_check)
        self.phrase_edits: Dict[Tuple[str, str], QtWidgets.QLineEdit] = {}
        for attribute, category in CATEGORIES:
            edit = QtWidgets.QLineEdit()
            edit.setPlaceholderText("no phrase: never steered towards {}".format(category))
            self.phrase_edits[(attribute, category)] = edit
            form.addRow("{} phrase".format(category), edit)
        self._loaded: Dict[str, Any] = {}

    def set_table(self, table: Optional[Dict[str, Any]]) -> None:
        """Show a request's ``[balance]`` table (None: no balanced cast asked for)."""
        self._loaded = dict(table or {})
        self.setChecked(table is not None)
        budget = self._loaded.get("budget", DEFAULT_BUDGET)
        self.budget_spin.setValue(budget if isinstance(budget, int) and 1 <= budget <= 64 else DEFAULT_BUDGET)
        self.steering_check.setChecked(self._loaded.get("steering") is True)
        phrases = self._loaded.get("phrases") or {}
        for (attribute, category), edit in self.phrase_edits.items():
            edit.setText(str((phrases.get(attribute) or {}).get(category, "")))

    def table(self) -> Tuple[Optional[Dict[str, Any]], List[str]]:
        """The ``[balance]`` table to write (None when the box is off), and what stops it from running."""
        if not self.isChecked():
            return None, []
        table = dict(self._loaded)
        phrases: Dict[str, Dict[str, str]] = {}
        for (attribute, category), edit in self.phrase_edits.items():
            text = edit.text().strip()
            if text:
                phrases.setdefault(attribute, {})[category] = text
        table.update(budget=self.budget_spin.value(), steering=self.steering_check.isChecked())
        table.pop("phrases", None)
        if phrases:
            table["phrases"] = phrases
        problems = []
        if table["steering"] and not phrases:
            problems.append("Balanced cast: steering is allowed but no phrase is given; type a phrase for the "
                            "categories that may be steered, or untick steering.")
        if any("{" in p or "}" in p for group in phrases.values() for p in group.values()):
            problems.append("Balanced cast: a steering phrase must not contain braces.")
        return table, problems

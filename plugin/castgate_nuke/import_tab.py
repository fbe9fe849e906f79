"""The panel's Import tab: gate again, then paste the kept plates under a backdrop; a batch that does not
PASS needs an override with a reason (``castgate override``)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, List, Optional, Tuple

from castgate_nuke import command, host, nodes
from castgate_nuke.batch import Verdict, parse_verdict
from castgate_nuke.command import Outcome
from castgate_nuke.dialogs import OverrideDialog
from castgate_nuke.qt import QtWidgets, exec_
from castgate_nuke.widgets import LayoutPreview

if TYPE_CHECKING:
    from castgate_nuke.panel import CastgatePanel


class ImportTab(QtWidgets.QWidget):
    """Import the open batch's plates; ``panel`` is the shell that runs castgate and holds the batch."""

    def __init__(self, panel: "CastgatePanel") -> None:
        super().__init__()
        self.panel = panel
        self._build()

    def _build(self) -> None:
        layout = QtWidgets.QVBoxLayout(self)
        self.import_summary = QtWidgets.QLabel("No batch open.")
        self.import_summary.setWordWrap(True)
        layout.addWidget(self.import_summary)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(QtWidgets.QLabel("Plates per row"))
        self.columns_spin = QtWidgets.QSpinBox()
        self.columns_spin.setRange(1, 24)
        self.columns_spin.setValue(nodes.DEFAULT_COLUMNS)
        self.columns_spin.valueChanged.connect(self._refresh_preview)
        row.addWidget(self.columns_spin)
        row.addStretch(1)
        self.import_button = QtWidgets.QPushButton("Import plates into the script")
        self.import_button.clicked.connect(self.import_plates)
        row.addWidget(self.import_button)
        layout.addLayout(row)
        self.preview = LayoutPreview()
        layout.addWidget(self.preview, 1)
        note = QtWidgets.QLabel(
            "The gate runs again before anything is imported. Plates of a batch that does not PASS "
            "need an override with a reason, which castgate records in the batch's manifest. Each plate "
            "is a self-contained Group (Read of the ACEScg EXR under the colour space name the batch recorded, "
            "Premult) with its labels as read-only knobs.")
        note.setWordWrap(True)
        layout.addWidget(note)

    def set_busy(self, busy: bool) -> None:
        """Disable what starts castgate while a job runs."""
        self.import_button.setEnabled(not busy)

    def show_verdict(self) -> None:
        """Show the panel's batch and verdict in the summary and the layout preview."""
        batch, verdict = self.panel.batch, self.panel.verdict
        self._refresh_preview()
        if batch is None:
            self.import_summary.setText("No batch open.")
            return
        self.import_summary.setText(
            "Batch <b>{}</b>: {} kept plates in {} roles, last verdict <b>{}</b>. Import pastes them as "
            "plate nodes in a grid under a backdrop naming the batch and its verdict.".format(
                batch.name, len(batch.kept_plates), len(batch.roles), verdict.name if verdict else "not gated"))

    def _refresh_preview(self, *_args: object) -> None:
        batch, verdict = self.panel.batch, self.panel.verdict
        if batch is None:
            self.preview.set_layout("", "", [], self.columns_spin.value())
            return
        self.preview.set_layout(batch.name, verdict.name if verdict else "not gated",
                                batch.kept_plates, self.columns_spin.value())

    # -- import -------------------------------------------------------------------------------------
    def import_plates(self) -> bool:
        """Gate again, then paste the kept plates (asking for an override when the verdict is not PASS)."""
        panel = self.panel
        if not panel.require_batch():
            return False
        batch = panel.batch
        assert batch is not None
        plates = batch.kept_plates
        if not plates:
            panel.show_error("Batch {} has no kept plates to import.".format(batch.name))
            return False
        missing = [p.id for p in plates if not p.exr or not os.path.isfile(p.exr)]
        if missing:
            panel.show_error("{} plate(s) have no EXR on disk ({}). Regenerate the batch or restore its files "
                             "before importing.".format(len(missing), ", ".join(missing[:5])))
            return False
        return panel.start_job(command.gate_args(batch.folder), "Gating {} before import".format(batch.name),
                               self._import_gate_done)

    def _import_gate_done(self, outcome: Outcome) -> None:
        panel = self.panel
        if outcome.result is None:
            if not outcome.cancelled:
                panel.show_error("Nothing imported: the gate could not run.\n{}".format(outcome.error or ""))
            return
        panel.reload_batch()
        verdict = parse_verdict(outcome.result)
        panel.set_verdict(verdict)
        if verdict.passed:
            self.paste_plates(verdict.name, note="")
            return
        assert panel.batch is not None
        answer = self.ask_override(verdict)
        if answer is None:
            panel.show_status("Nothing imported: batch {} is {} and no override was given.".format(
                panel.batch.name, verdict.name))
            return
        reason, user = answer
        panel.start_job(command.override_args(panel.batch.folder, reason, user),
                        "Recording the override",
                        lambda o: self._override_done(verdict, reason, user, o))

    def ask_override(self, verdict: Verdict) -> Optional[Tuple[str, str]]:
        """Ask why plates are imported anyway; ``(reason, user)`` or None when cancelled."""
        panel = self.panel
        assert panel.batch is not None
        dialog = OverrideDialog(panel.batch.name, verdict, panel.audit_tab.reviewer(), panel)
        if not exec_(dialog) or not dialog.reason():
            return None
        return dialog.reason(), dialog.user()

    def _override_done(self, verdict: Verdict, reason: str, user: str, outcome: Outcome) -> None:
        if not outcome.ok:
            if not outcome.cancelled:
                self.panel.show_error("Nothing imported: the override could not be recorded.\n{}".format(
                    outcome.error or ""))
            return
        self.paste_plates(verdict.name, note="imported with override by {}: {}".format(user, reason))

    def paste_plates(self, verdict: str, note: str) -> List[str]:
        """Paste the kept plates as plate nodes under a backdrop; return the pasted node names."""
        batch = self.panel.batch
        assert batch is not None
        text = nodes.import_script(batch, batch.kept_plates, origin=host.free_origin(),
                                   verdict=verdict, note=note, columns=self.columns_spin.value())
        pasted = host.paste_nodes(text)
        done = "Imported {} plates of {} ({}{}) into the script.".format(
            len(batch.kept_plates), batch.name, verdict, ", with override" if note else "")
        if host.colourspace_known(batch.exr_colourspace) is False:
            self.panel.show_error(
                "{} Their Reads use the colour space {!r}, which castgate recorded for the OCIO config it was "
                "given, but the config in $OCIO has no such colour space. Generate with $OCIO (or "
                "--ocio-config) set to the config Nuke uses, or set the Reads' colorspace to ACEScg by hand."
                .format(done, batch.exr_colourspace))
        else:
            self.panel.show_status(done)
        return pasted

"""The panel's Request tab: roles (prompt, count), quota, seed and output folder; run locally or on the farm.

The request is written as TOML beside the output folder (``<batch>.request.toml``) and handed to
``castgate run``, ``castgate generate``, ``castgate balance`` (when the "Balanced cast" box asks for one)
or ``castgate farm submit`` through the panel's job runner.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any, Dict, List, Tuple

from castgate_nuke import command, host, request_toml
from castgate_nuke.balance_box import BalanceBox
from castgate_nuke.batch import parse_verdict
from castgate_nuke.command import Outcome
from castgate_nuke.qt import QtWidgets

if TYPE_CHECKING:
    from castgate_nuke.panel import CastgatePanel

SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
DEFAULT_QUOTA = "parity"


def safe_id(text: str, fallback: str = "castgate_batch") -> str:
    """``text`` made into a castgate id (letters, digits, _ and -; 64 characters at most)."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_-")[:64]
    return cleaned if cleaned and SAFE_ID.match(cleaned) else fallback


def is_quota_path(quota: str) -> bool:
    """Whether a quota value is a file path rather than a preset name (castgate's own rule)."""
    return "/" in quota or "\\" in quota or quota.endswith(".toml")


def default_output(script: str, batch_name: str) -> str:
    """``<script folder>/castgate/<batch>``, or ``""`` for an unsaved script."""
    if not script:
        return ""
    return os.path.join(os.path.dirname(os.path.abspath(script)), "castgate", batch_name)


def _short_text(shortfall: Dict[str, Dict[str, int]]) -> str:
    return "; ".join("{}: {}".format(role, ", ".join("{} more {}".format(n, cell) for cell, n in cells.items()))
                     for role, cells in shortfall.items())


def request_path_for(batch_folder: str) -> str:
    """Where the panel writes the request for a batch folder: beside it, ``<batch>.request.toml``."""
    return os.path.normpath(batch_folder) + ".request.toml"


class RequestTab(QtWidgets.QWidget):
    """Edit a request and start it; ``panel`` is the shell that runs castgate and holds the batch."""

    def __init__(self, panel: "CastgatePanel") -> None:
        super().__init__()
        self.panel = panel
        self._request_doc: Dict[str, Any] = {}
        self._output_is_custom = False
        self._build()

    def _build(self) -> None:
        layout = QtWidgets.QVBoxLayout(self)
        form = QtWidgets.QFormLayout()
        self.name_edit = QtWidgets.QLineEdit()
        self.name_edit.textEdited.connect(self._name_edited)
        form.addRow("Batch name", self.name_edit)
        quota_row = QtWidgets.QHBoxLayout()
        self.quota_combo = QtWidgets.QComboBox()
        self.quota_combo.setEditable(True)
        self.quota_combo.addItems([DEFAULT_QUOTA])
        self.quota_combo.setToolTip("A castgate quota preset name, or the path of a quota .toml file")
        quota_row.addWidget(self.quota_combo, 1)
        quota_browse = QtWidgets.QPushButton("Browse...")
        quota_browse.clicked.connect(self._browse_quota)
        quota_row.addWidget(quota_browse)
        form.addRow("Quota", quota_row)
        self.seed_spin = QtWidgets.QSpinBox()
        self.seed_spin.setRange(0, 2147483647)
        form.addRow("Seed", self.seed_spin)
        output_row = QtWidgets.QHBoxLayout()
        self.output_edit = QtWidgets.QLineEdit()
        self.output_edit.textEdited.connect(self._output_edited)
        output_row.addWidget(self.output_edit, 1)
        output_browse = QtWidgets.QPushButton("Browse...")
        output_browse.clicked.connect(self._browse_output)
        output_row.addWidget(output_browse)
        form.addRow("Output folder", output_row)
        layout.addLayout(form)

        self.roles_table = QtWidgets.QTableWidget(0, 3)
        self.roles_table.setHorizontalHeaderLabels(["Role", "Prompt", "Count"])
        header = self.roles_table.horizontalHeader()
        header.setSectionResizeMode(0, QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QtWidgets.QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        self.roles_table.verticalHeader().setVisible(False)
        layout.addWidget(self.roles_table, 1)
        role_buttons = QtWidgets.QHBoxLayout()
        self.add_role_button = QtWidgets.QPushButton("Add role")
        self.add_role_button.clicked.connect(lambda: self.add_role("", "", 8))
        self.remove_role_button = QtWidgets.QPushButton("Remove role")
        self.remove_role_button.clicked.connect(self._remove_selected_roles)
        self.load_request_button = QtWidgets.QPushButton("Load request...")
        self.load_request_button.clicked.connect(self._browse_request)
        self.save_request_button = QtWidgets.QPushButton("Save request...")
        self.save_request_button.clicked.connect(self._save_request_as)
        for button in (self.add_role_button, self.remove_role_button):
            role_buttons.addWidget(button)
        role_buttons.addStretch(1)
        role_buttons.addWidget(self.load_request_button)
        role_buttons.addWidget(self.save_request_button)
        layout.addLayout(role_buttons)
        self.balance_box = BalanceBox()
        layout.addWidget(self.balance_box)

        run_buttons = QtWidgets.QHBoxLayout()
        run_buttons.addStretch(1)
        self.generate_button = QtWidgets.QPushButton("Generate only")
        self.generate_button.setToolTip("castgate generate: plates without audit, gate or report")
        self.generate_button.clicked.connect(lambda: self.launch_request("generate"))
        self.run_button = QtWidgets.QPushButton("Run locally")
        self.run_button.setToolTip("castgate run: generate, audit, gate and report in the background")
        self.run_button.clicked.connect(lambda: self.launch_request("run"))
        self.farm_button = QtWidgets.QPushButton("Submit to farm")
        self.farm_button.clicked.connect(lambda: self.launch_request("farm"))
        self.balance_button = QtWidgets.QPushButton("Balance cast")
        self.balance_button.setToolTip("castgate balance: generate, audit and select in the background until "
                                       "each role's count meets the quota (or the budget is spent)")
        self.balance_button.clicked.connect(lambda: self.launch_request("balance"))
        self.balance_button.setEnabled(False)
        self.balance_box.toggled.connect(self._balance_toggled)
        for button in (self.generate_button, self.run_button, self.balance_button, self.farm_button):
            run_buttons.addWidget(button)
        layout.addLayout(run_buttons)

    def set_busy(self, busy: bool) -> None:
        """Disable what starts castgate while a job runs."""
        for button in (self.run_button, self.generate_button, self.farm_button):
            button.setEnabled(not busy)
        self.balance_button.setEnabled(not busy and self.balance_box.isChecked())

    def _balance_toggled(self, on: bool) -> None:
        self.balance_button.setEnabled(on and self.run_button.isEnabled())

    # -- the request --------------------------------------------------------------------------------
    def start_request(self) -> None:
        """A new request: the studio template's settings if one is set, the script's name, one role."""
        doc: Dict[str, Any] = {}
        template = self.panel.prefs.request_template
        if template:
            try:
                doc = self._read_request_file(template)
            except (OSError, request_toml.TomlSubsetError) as exc:
                self.panel.show_error("Request template {}: {}".format(template, exc))
        stem = os.path.splitext(os.path.basename(host.script_path()))[0]
        batch = dict(doc.get("batch", {}))
        batch["name"] = safe_id(stem) if stem else batch.get("name", "castgate_batch")
        doc["batch"] = batch
        if not doc.get("roles"):
            doc["roles"] = [{"id": "pedestrian", "prompt": "a pedestrian walking down a city street", "count": 8}]
        self.set_request(doc)

    def set_request(self, doc: Dict[str, Any]) -> None:
        """Show a request (parsed TOML); tables the panel does not edit are kept."""
        self._request_doc = doc
        batch = doc.get("batch", {})
        self.name_edit.setText(str(batch.get("name", "")))
        self.quota_combo.setEditText(str(batch.get("quota", DEFAULT_QUOTA)))
        self.seed_spin.setValue(int(batch.get("seed", 0)) if str(batch.get("seed", "0")).isdigit() else 0)
        self.roles_table.setRowCount(0)
        for role in doc.get("roles", []):
            self.add_role(str(role.get("id", "")), str(role.get("prompt", "")), int(role.get("count", 1)))
        balance = doc.get("balance")
        self.balance_box.set_table(balance if isinstance(balance, dict) else None)
        if not self._output_is_custom:
            self.output_edit.setText(default_output(host.script_path(), self.name_edit.text()))

    def add_role(self, role_id: str, prompt: str, count: int) -> None:
        row = self.roles_table.rowCount()
        self.roles_table.insertRow(row)
        self.roles_table.setItem(row, 0, QtWidgets.QTableWidgetItem(role_id))
        self.roles_table.setItem(row, 1, QtWidgets.QTableWidgetItem(prompt))
        spin = QtWidgets.QSpinBox()
        spin.setRange(1, 10000)
        spin.setValue(max(1, count))
        self.roles_table.setCellWidget(row, 2, spin)

    def roles(self) -> List[Dict[str, Any]]:
        out = []
        for row in range(self.roles_table.rowCount()):
            id_item = self.roles_table.item(row, 0)
            prompt_item = self.roles_table.item(row, 1)
            spin = self.roles_table.cellWidget(row, 2)
            out.append({"id": id_item.text().strip() if id_item else "",
                        "prompt": prompt_item.text().strip() if prompt_item else "",
                        "count": spin.value() if isinstance(spin, QtWidgets.QSpinBox) else 1})
        return out

    def collect_request(self) -> Tuple[Dict[str, Any], List[str]]:
        """The request as a dict ready for TOML, and the problems that stop it from being run."""
        problems = []
        name = self.name_edit.text().strip()
        if not SAFE_ID.match(name):
            problems.append("Batch name {!r}: use letters, digits, _ and - (64 at most), starting with a "
                            "letter or digit.".format(name))
        quota = self.quota_combo.currentText().strip() or DEFAULT_QUOTA
        roles = self.roles()
        if not roles:
            problems.append("Add at least one role.")
        seen = set()
        for number, role in enumerate(roles, 1):
            if not SAFE_ID.match(role["id"]):
                problems.append("Role {}: id {!r}: use letters, digits, _ and -.".format(number, role["id"]))
            elif role["id"] in seen:
                problems.append("Role {}: id {!r} is used twice.".format(number, role["id"]))
            seen.add(role["id"])
            if not role["prompt"]:
                problems.append("Role {} ({}): the prompt is empty.".format(number, role["id"] or "no id"))
        doc = dict(self._request_doc)
        batch = dict(doc.get("batch", {}))
        batch.update({"name": name, "seed": self.seed_spin.value(), "quota": quota})
        doc["batch"] = batch
        doc["roles"] = roles
        balance, balance_problems = self.balance_box.table()
        problems += balance_problems
        doc.pop("balance", None)
        if balance is not None:
            doc["balance"] = balance
        return doc, problems

    def _read_request_file(self, path: str) -> Dict[str, Any]:
        """Parse a request TOML; a relative quota path is made absolute (castgate reads it relative to
        the request file, and the panel writes the request somewhere else)."""
        with open(path, encoding="utf-8") as handle:
            doc = request_toml.loads(handle.read(), source=path)
        batch = doc.get("batch")
        if not isinstance(batch, dict):
            return doc
        quota = batch.get("quota")
        if isinstance(quota, str) and is_quota_path(quota) and not os.path.isabs(quota):
            batch["quota"] = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(path)), quota))
        return doc

    def load_request(self, path: str) -> bool:
        try:
            doc = self._read_request_file(path)
        except (OSError, request_toml.TomlSubsetError) as exc:
            self.panel.show_error("Cannot load the request: {}".format(exc))
            return False
        self.set_request(doc)
        self.panel.show_status("Loaded request {}.".format(path))
        return True

    def write_request(self, path: str) -> bool:
        doc, problems = self.collect_request()
        if problems:
            self.panel.show_error("The request is not ready:\n" + "\n".join(problems))
            return False
        folder = os.path.dirname(os.path.abspath(path))
        try:
            os.makedirs(folder, exist_ok=True)
            tmp = path + ".tmp"
            with open(tmp, "w", encoding="utf-8") as handle:
                handle.write(request_toml.dumps(doc))
            os.replace(tmp, path)
        except OSError as exc:
            self.panel.show_error("Cannot write the request {}: {}. Choose another output folder.".format(
                path, exc))
            return False
        return True

    def _name_edited(self, text: str) -> None:
        if not self._output_is_custom:
            self.output_edit.setText(default_output(host.script_path(), text.strip()))

    def _output_edited(self, _text: str) -> None:
        self._output_is_custom = True

    # -- running requests ---------------------------------------------------------------------------
    def launch_request(self, kind: str) -> bool:
        """Write the request beside the output folder and start ``run``, ``generate`` or ``farm submit``."""
        output = self.output_edit.text().strip()
        if not output:
            self.panel.show_error("No output folder. Save the Nuke script first (the batch goes beside it, in "
                                  "castgate/), or choose an output folder.")
            return False
        output = os.path.abspath(output)
        request = request_path_for(output)
        if not self.write_request(request):
            return False
        make_args = {"run": command.run_args, "generate": command.generate_args,
                     "farm": command.farm_submit_args, "balance": command.balance_args}[kind]
        self.panel.batch_edit.setText(output)
        what = {"run": "Running", "generate": "Generating", "farm": "Submitting", "balance": "Balancing"}[kind]
        return self.panel.start_job(make_args(request, output), "{} {}".format(what, os.path.basename(output)),
                                    lambda outcome: self._request_done(kind, output, outcome))

    def _request_done(self, kind: str, output: str, outcome: Outcome) -> None:
        panel = self.panel
        if not outcome.ok or outcome.result is None:
            return
        if kind == "farm":
            job = outcome.result.get("job_id") or outcome.result.get("job") or outcome.result.get("id") or "?"
            panel.show_status("Submitted to the farm as job {}. When it has finished, press Refresh to audit "
                              "{}.".format(job, output))
            return
        if kind == "balance":
            self._balance_done(output, outcome)
            return
        if panel.open_batch(output):
            if kind == "run":
                if outcome.result.get("verdict"):
                    verdict = parse_verdict(outcome.result)
                    if verdict.bars or panel.verdict is None:  # else the manifest's record has more detail
                        panel.set_verdict(verdict)
                panel.show_tab(panel.audit_tab)
            panel.show_status("{} finished: {}.".format(
                "Run" if kind == "run" else "Generate", panel.verdict.name if panel.verdict else "not gated yet"))

    def _balance_done(self, output: str, outcome: Outcome) -> None:
        """Open the balanced batch on the Audit tab and say how it ended (passed, review, short)."""
        panel = self.panel
        result = outcome.result or {}
        if not panel.open_batch(output):
            return
        panel.show_tab(panel.audit_tab)
        status = result.get("status")
        if status == "passed":
            panel.show_status("Balance finished: a cast that meets the quota is kept. Check gate to confirm.")
        elif status == "review":
            panel.show_status("Balance kept a cast, but its labels leave it undecided: review {} and balance "
                              "again.".format(", ".join(result.get("review", [])[:5]) or "the listed plates"))
        else:
            panel.show_status("Balance spent its budget without a cast that meets the quota. Short: {}. "
                              "Tried: {}.".format(_short_text(result.get("shortfall") or {}) or "see the log",
                                                  result.get("tried", "")))

    # -- file dialogs and role rows -----------------------------------------------------------------
    def _browse_quota(self) -> None:
        path, _filter = QtWidgets.QFileDialog.getOpenFileName(self, "A quota file", "", "TOML (*.toml)")
        if path:
            self.quota_combo.setEditText(path)

    def _browse_output(self) -> None:
        folder = QtWidgets.QFileDialog.getExistingDirectory(self, "Output folder for the batch",
                                                            self.output_edit.text())
        if folder:
            self.output_edit.setText(folder)
            self._output_is_custom = True

    def _browse_request(self) -> None:
        path, _filter = QtWidgets.QFileDialog.getOpenFileName(self, "A castgate request", "", "TOML (*.toml)")
        if path:
            self.load_request(path)

    def _save_request_as(self) -> None:
        path, _filter = QtWidgets.QFileDialog.getSaveFileName(
            self, "Save the request", request_path_for(self.output_edit.text() or "request"), "TOML (*.toml)")
        if path and self.write_request(path):
            self.panel.show_status("Saved the request to {}.".format(path))

    def _remove_selected_roles(self) -> None:
        rows = sorted({index.row() for index in self.roles_table.selectedIndexes()}, reverse=True)
        if not rows and self.roles_table.rowCount():
            rows = [self.roles_table.rowCount() - 1]
        for row in rows:
            self.roles_table.removeRow(row)

"""The dockable CastGate panel: request plates, review the audit, import plates as nodes.

Everything the panel does to a batch goes through the ``castgate`` command (see
:mod:`castgate_nuke.command`), run in the background by :class:`~castgate_nuke.process.CastgateJob`;
it reads the batch's ``manifest.json`` as plain JSON. Calls into Nuke go through
:mod:`castgate_nuke.host`.

Tabs:
    Request: roles (prompt, count), quota, seed and output folder; run locally, or submit to the farm.
    Audit: verdict, per-role bars against the target band, thumbnails filtered by role and label,
        label corrections (``castgate review``), the HTML report.
    Import: gate again, then paste the plates under a backdrop; a batch that does not PASS needs an
        override with a reason (``castgate override``).
"""

from __future__ import annotations

import getpass
import os
import re
import weakref
from typing import Any, Callable, Dict, List, Optional, Tuple

from castgate_nuke import command, host, nodes, request_toml, settings
from castgate_nuke.batch import (REVIEWABLE, UNDETERMINED, BatchReadError, BatchView, PlateView, Verdict,
                                 bar_rows, filter_plates, label_filters, parse_verdict, read_batch)
from castgate_nuke.command import Outcome, Progress
from castgate_nuke.dialogs import OverrideDialog, SettingsDialog
from castgate_nuke.process import CastgateJob
from castgate_nuke.qt import QtCore, QtGui, QtWidgets, exec_
from castgate_nuke.widgets import BandChart, LayoutPreview, VerdictBanner

SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
DEFAULT_QUOTA = "parity"
THUMB = 96
PLATE_ID_ROLE = QtCore.Qt.ItemDataRole.UserRole


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


def request_path_for(batch_folder: str) -> str:
    """Where the panel writes the request for a batch folder: beside it, ``<batch>.request.toml``."""
    return os.path.normpath(batch_folder) + ".request.toml"


def login_name() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry
        return os.environ.get("USER", os.environ.get("USERNAME", ""))


class CastgatePanel(QtWidgets.QWidget):
    """The CastGate panel. Nuke creates it with no arguments (``registerWidgetAsPanel``)."""

    _instance = None  # type: Optional[weakref.ReferenceType]

    def __init__(self, parent: Optional[QtWidgets.QWidget] = None, prefs_path: Optional[str] = None) -> None:
        super().__init__(parent)
        self.setObjectName("castgatePanel")
        self.prefs_path = prefs_path or settings.default_prefs_path()
        self.prefs = settings.Preferences()
        self.batch: Optional[BatchView] = None
        self.verdict: Optional[Verdict] = None
        self.verdict_stale = False
        self.job: Optional[CastgateJob] = None
        self._request_doc: Dict[str, Any] = {}
        self._output_is_custom = False
        self._pixmaps: Dict[Tuple[str, float], QtGui.QPixmap] = {}
        self._build()
        self._load_preferences()
        self._start_request()
        CastgatePanel._instance = weakref.ref(self)

    @classmethod
    def instance(cls) -> Optional["CastgatePanel"]:
        """The panel if one exists (there is one per Nuke session)."""
        panel = cls._instance() if cls._instance is not None else None
        if not isinstance(panel, CastgatePanel):
            return None
        try:
            panel.objectName()  # raises once Qt has deleted the widget behind the Python object
        except RuntimeError:
            return None
        return panel

    # -- building ----------------------------------------------------------------------------------
    def _build(self) -> None:
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        header = QtWidgets.QHBoxLayout()
        header.addWidget(QtWidgets.QLabel("Batch"))
        self.batch_edit = QtWidgets.QLineEdit()
        self.batch_edit.setPlaceholderText("a castgate batch folder")
        self.batch_edit.returnPressed.connect(lambda: self.open_batch(self.batch_edit.text()))
        header.addWidget(self.batch_edit, 1)
        self.open_button = QtWidgets.QPushButton("Open...")
        self.open_button.clicked.connect(self._browse_batch)
        header.addWidget(self.open_button)
        self.refresh_button = QtWidgets.QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.reload_batch)
        header.addWidget(self.refresh_button)
        self.settings_button = QtWidgets.QPushButton("Settings...")
        self.settings_button.clicked.connect(self._open_settings)
        header.addWidget(self.settings_button)
        layout.addLayout(header)

        self.tabs = QtWidgets.QTabWidget()
        self.tabs.addTab(self._build_request_tab(), "Request")
        self.tabs.addTab(self._build_audit_tab(), "Audit")
        self.tabs.addTab(self._build_import_tab(), "Import")
        layout.addWidget(self.tabs, 1)

        job_row = QtWidgets.QHBoxLayout()
        self.progress_bar = QtWidgets.QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setValue(0)
        self.progress_bar.setTextVisible(False)
        job_row.addWidget(self.progress_bar, 1)
        self.stage_label = QtWidgets.QLabel("")
        self.stage_label.setMinimumWidth(220)
        job_row.addWidget(self.stage_label)
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel_job)
        job_row.addWidget(self.cancel_button)
        layout.addLayout(job_row)
        self.status_label = QtWidgets.QLabel("")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.status_label)
        self.log_view = QtWidgets.QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(2000)
        self.log_view.setMaximumHeight(70)
        self.log_view.setPlaceholderText("castgate's log")
        layout.addWidget(self.log_view)

    def _build_request_tab(self) -> QtWidgets.QWidget:
        tab = QtWidgets.QWidget()
        layout = QtWidgets.QVBoxLayout(tab)
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
        for button in (self.generate_button, self.run_button, self.farm_button):
            run_buttons.addWidget(button)
        layout.addLayout(run_buttons)
        return tab

    def _build_audit_tab(self) -> QtWidgets.QWidget:
        tab = QtWidgets.QWidget()
        layout = QtWidgets.QVBoxLayout(tab)
        top = QtWidgets.QHBoxLayout()
        self.banner = VerdictBanner()
        top.addWidget(self.banner, 1)
        buttons = QtWidgets.QVBoxLayout()
        self.gate_button = QtWidgets.QPushButton("Check gate")
        self.gate_button.clicked.connect(self.check_gate)
        self.report_button = QtWidgets.QPushButton("Open report")
        self.report_button.clicked.connect(self.open_report)
        buttons.addWidget(self.gate_button)
        buttons.addWidget(self.report_button)
        top.addLayout(buttons)
        layout.addLayout(top)
        self.chart = BandChart()
        layout.addWidget(self.chart)

        filters = QtWidgets.QHBoxLayout()
        filters.addWidget(QtWidgets.QLabel("Role"))
        self.role_filter = QtWidgets.QComboBox()
        self.role_filter.currentIndexChanged.connect(self._fill_thumbnails)
        filters.addWidget(self.role_filter)
        filters.addWidget(QtWidgets.QLabel("Label"))
        self.label_filter = QtWidgets.QComboBox()
        self.label_filter.currentIndexChanged.connect(self._fill_thumbnails)
        filters.addWidget(self.label_filter)
        self.shown_label = QtWidgets.QLabel("")
        filters.addWidget(self.shown_label)
        filters.addStretch(1)
        layout.addLayout(filters)

        self.thumbnails = QtWidgets.QListWidget()
        self.thumbnails.setViewMode(QtWidgets.QListView.ViewMode.IconMode)
        self.thumbnails.setIconSize(QtCore.QSize(THUMB, THUMB))
        self.thumbnails.setGridSize(QtCore.QSize(THUMB + 24, THUMB + 40))
        self.thumbnails.setResizeMode(QtWidgets.QListView.ResizeMode.Adjust)
        self.thumbnails.setMovement(QtWidgets.QListView.Movement.Static)
        self.thumbnails.setWordWrap(True)
        self.thumbnails.setUniformItemSizes(True)
        self.thumbnails.currentItemChanged.connect(self._plate_selected)
        layout.addWidget(self.thumbnails, 1)

        review = QtWidgets.QGroupBox("Review labels")
        review_box = QtWidgets.QVBoxLayout(review)
        self.plate_label = QtWidgets.QLabel("Select a plate")
        self.plate_label.setWordWrap(True)
        self.plate_label.setMinimumHeight(self.plate_label.fontMetrics().lineSpacing() * 2 + 6)
        review_box.addWidget(self.plate_label)
        review_layout = QtWidgets.QHBoxLayout()
        review_box.addLayout(review_layout)
        self.review_combos: Dict[str, QtWidgets.QComboBox] = {}
        for attribute, values in REVIEWABLE.items():
            combo = QtWidgets.QComboBox()
            combo.addItems(list(values) + [UNDETERMINED])
            combo.setEnabled(False)
            review_layout.addWidget(QtWidgets.QLabel(attribute.replace("_", " ")))
            review_layout.addWidget(combo)
            self.review_combos[attribute] = combo
        review_layout.addWidget(QtWidgets.QLabel("reviewer"))
        self.reviewer_edit = QtWidgets.QLineEdit()
        self.reviewer_edit.setPlaceholderText("your name")
        self.reviewer_edit.setMaximumWidth(140)
        review_layout.addWidget(self.reviewer_edit)
        review_layout.addStretch(1)
        self.review_button = QtWidgets.QPushButton("Save labels")
        self.review_button.setEnabled(False)
        self.review_button.clicked.connect(self.save_review)
        review_layout.addWidget(self.review_button)
        layout.addWidget(review)
        return tab

    def _build_import_tab(self) -> QtWidgets.QWidget:
        tab = QtWidgets.QWidget()
        layout = QtWidgets.QVBoxLayout(tab)
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
            "is a self-contained Group (Read of the ACEScg EXR, Premult) with its labels as read-only knobs.")
        note.setWordWrap(True)
        layout.addWidget(note)
        return tab

    def _refresh_preview(self, *_args: object) -> None:
        batch = self.batch
        if batch is None:
            self.preview.set_layout("", "", [], self.columns_spin.value())
            return
        self.preview.set_layout(batch.name, self.verdict.name if self.verdict else "not gated",
                                batch.kept_plates, self.columns_spin.value())

    # -- preferences and request --------------------------------------------------------------------
    def _load_preferences(self) -> None:
        try:
            self.prefs = settings.load_preferences(self.prefs_path)
        except settings.SettingsError as exc:
            self.show_error(str(exc))
        self.reviewer_edit.setText(self.prefs.reviewer or login_name())

    def _start_request(self) -> None:
        """A new request: the studio template's settings if one is set, the script's name, one role."""
        doc: Dict[str, Any] = {}
        if self.prefs.request_template:
            try:
                doc = self._read_request_file(self.prefs.request_template)
            except (OSError, request_toml.TomlSubsetError) as exc:
                self.show_error("Request template {}: {}".format(self.prefs.request_template, exc))
        stem = os.path.splitext(os.path.basename(host.script_path()))[0]
        batch = dict(doc.get("batch", {}))
        batch["name"] = safe_id(stem) if stem else batch.get("name", "castgate_batch")
        doc["batch"] = batch
        if not doc.get("roles"):
            doc["roles"] = [{"id": "pedestrian", "prompt": "a pedestrian walking down a city street", "count": 8}]
        self.set_request(doc)

    def set_request(self, doc: Dict[str, Any]) -> None:
        """Show a request (parsed TOML) in the Request tab; tables the panel does not edit are kept."""
        self._request_doc = doc
        batch = doc.get("batch", {})
        self.name_edit.setText(str(batch.get("name", "")))
        self.quota_combo.setEditText(str(batch.get("quota", DEFAULT_QUOTA)))
        self.seed_spin.setValue(int(batch.get("seed", 0)) if str(batch.get("seed", "0")).isdigit() else 0)
        self.roles_table.setRowCount(0)
        for role in doc.get("roles", []):
            self.add_role(str(role.get("id", "")), str(role.get("prompt", "")), int(role.get("count", 1)))
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
            self.show_error("Cannot load the request: {}".format(exc))
            return False
        self.set_request(doc)
        self.show_status("Loaded request {}.".format(path))
        return True

    def write_request(self, path: str) -> bool:
        doc, problems = self.collect_request()
        if problems:
            self.show_error("The request is not ready:\n" + "\n".join(problems))
            return False
        folder = os.path.dirname(os.path.abspath(path))
        try:
            os.makedirs(folder, exist_ok=True)
            tmp = path + ".tmp"
            with open(tmp, "w", encoding="utf-8") as handle:
                handle.write(request_toml.dumps(doc))
            os.replace(tmp, path)
        except OSError as exc:
            self.show_error("Cannot write the request {}: {}. Choose another output folder.".format(path, exc))
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
            self.show_error("No output folder. Save the Nuke script first (the batch goes beside it, in "
                            "castgate/), or choose an output folder.")
            return False
        output = os.path.abspath(output)
        request = request_path_for(output)
        if not self.write_request(request):
            return False
        make_args = {"run": command.run_args, "generate": command.generate_args,
                     "farm": command.farm_submit_args}[kind]
        self.batch_edit.setText(output)
        what = {"run": "Running", "generate": "Generating", "farm": "Submitting"}[kind]
        return self.start_job(make_args(request, output), "{} {}".format(what, os.path.basename(output)),
                              lambda outcome: self._request_done(kind, output, outcome))

    def _request_done(self, kind: str, output: str, outcome: Outcome) -> None:
        if not outcome.ok or outcome.result is None:
            return
        if kind == "farm":
            job = outcome.result.get("job_id") or outcome.result.get("job") or outcome.result.get("id") or "?"
            self.show_status("Submitted to the farm as job {}. When it has finished, press Refresh to audit "
                             "{}.".format(job, output))
            return
        if self.open_batch(output):
            if kind == "run":
                if outcome.result.get("verdict"):
                    verdict = parse_verdict(outcome.result)
                    if verdict.bars or self.verdict is None:  # else the manifest's record has more detail
                        self.set_verdict(verdict)
                self.tabs.setCurrentIndex(1)
            self.show_status("{} finished: {}.".format(
                "Run" if kind == "run" else "Generate", self.verdict.name if self.verdict else "not gated yet"))

    # -- jobs ---------------------------------------------------------------------------------------
    def start_job(self, args: List[str], title: str, on_done: Callable[[Outcome], None]) -> bool:
        """Start a castgate command in the background; ``on_done`` gets its :class:`Outcome`."""
        if self.job is not None and self.job.is_running():
            self.show_error("castgate is still busy ({}). Wait for it or press Cancel.".format(
                self.stage_label.text()))
            return False
        try:
            executable = settings.find_executable(self.prefs, prefs_path=self.prefs_path)
        except settings.SettingsError as exc:
            self.show_error(str(exc))
            return False
        job = CastgateJob(executable, args, self)
        job.progress.connect(self._on_progress)
        job.log_line.connect(self._append_log)
        job.done.connect(lambda outcome: self._job_done(job, outcome, on_done))
        self.job = job
        self._set_busy(True, title)
        self._append_log("$ " + job.command_line)
        job.start()
        return True

    def cancel_job(self) -> None:
        if self.job is not None:
            self.stage_label.setText("Cancelling...")
            self.job.cancel()

    def _job_done(self, job: CastgateJob, outcome: Outcome, on_done: Callable[[Outcome], None]) -> None:
        if self.job is job:
            self.job = None
        self._set_busy(False, "")
        if outcome.cancelled:
            self.show_status(outcome.error or "Cancelled.")
        elif outcome.error:
            self.show_error(outcome.error)
        on_done(outcome)
        job.deleteLater()

    def _set_busy(self, busy: bool, title: str) -> None:
        for button in (self.run_button, self.generate_button, self.farm_button, self.gate_button,
                       self.report_button, self.import_button, self.refresh_button, self.open_button):
            button.setEnabled(not busy)
        self.review_button.setEnabled(not busy and self._selected_plate() is not None)
        self.cancel_button.setEnabled(busy)
        self.progress_bar.setRange(0, 0 if busy else 1000)  # busy indicator until progress arrives
        self.progress_bar.setValue(0)
        self.stage_label.setText(title)
        if busy:
            self.show_status("")

    def _on_progress(self, progress: Progress) -> None:
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setValue(int(progress.fraction * 1000))
        self.stage_label.setText(progress.describe())

    def _append_log(self, line: str) -> None:
        self.log_view.appendPlainText(line)

    def show_status(self, text: str) -> None:
        self.status_label.setStyleSheet("")
        self.status_label.setText(text)

    def show_error(self, text: str) -> None:
        self.status_label.setStyleSheet("QLabel { color: #e57373; }")
        self.status_label.setText(text)
        self._append_log(text)

    # -- batches ------------------------------------------------------------------------------------
    def open_batch(self, folder: str) -> bool:
        """Read a batch folder's manifest and show it in the Audit and Import tabs."""
        folder = folder.strip()
        try:
            batch = read_batch(folder)
        except BatchReadError as exc:
            self.show_error(str(exc))
            return False
        same = self.batch is not None and self.batch.folder == batch.folder
        self.batch = batch
        self.batch_edit.setText(batch.folder)
        self.verdict = batch.verdict
        if not same:
            self.verdict_stale = False
        self._refresh_batch_views()
        return True

    def reload_batch(self) -> bool:
        folder = self.batch.folder if self.batch else self.batch_edit.text()
        return self.open_batch(folder) if folder.strip() else False

    def set_verdict(self, verdict: Optional[Verdict], stale: bool = False) -> None:
        self.verdict = verdict
        self.verdict_stale = stale
        self._refresh_verdict()

    def _refresh_batch_views(self) -> None:
        batch = self.batch
        if batch is None:
            return
        current_role = self.role_filter.currentData()
        self.role_filter.blockSignals(True)
        self.role_filter.clear()
        self.role_filter.addItem("all roles", None)
        for role in batch.roles:
            self.role_filter.addItem(role, role)
        index = self.role_filter.findData(current_role)
        self.role_filter.setCurrentIndex(max(0, index))
        self.role_filter.blockSignals(False)
        current_label = self.label_filter.currentData()
        self.label_filter.blockSignals(True)
        self.label_filter.clear()
        self.label_filter.addItem("any label", None)
        for attribute, value in label_filters(batch.kept_plates):
            # item data is a plain string: PySide turns tuples into lists, so findData would miss them
            self.label_filter.addItem("{} = {}".format(attribute.replace("_", " "), value),
                                      "{}={}".format(attribute, value))
        index = self.label_filter.findData(current_label)
        self.label_filter.setCurrentIndex(max(0, index))
        self.label_filter.blockSignals(False)
        self._fill_thumbnails()
        self._refresh_verdict()

    def _refresh_verdict(self) -> None:
        batch = self.batch
        name = batch.name if batch else ""
        count = len(batch.kept_plates) if batch else 0
        self.banner.show_verdict(self.verdict, name, self.verdict_stale, count)
        self.chart.set_bars(bar_rows(self.verdict) if self.verdict else [])
        self._refresh_preview()
        if batch is None:
            self.import_summary.setText("No batch open.")
            return
        verdict = self.verdict.name if self.verdict else "not gated"
        self.import_summary.setText(
            "Batch <b>{}</b>: {} kept plates in {} roles, last verdict <b>{}</b>. Import pastes them as "
            "plate nodes in a grid under a backdrop naming the batch and its verdict.".format(
                batch.name, count, len(batch.roles), verdict))

    def _fill_thumbnails(self, *_args: object) -> None:
        batch = self.batch
        selected = self._selected_plate()
        self.thumbnails.clear()
        if batch is None:
            return
        label: Optional[Tuple[str, str]] = None
        if self.label_filter.currentData():
            attribute, _, value = str(self.label_filter.currentData()).partition("=")
            label = (attribute, value)
        plates = filter_plates(batch.plates, self.role_filter.currentData(), label)
        for plate in plates:
            item = QtWidgets.QListWidgetItem(self._icon(plate.png), thumbnail_text(plate))
            item.setData(PLATE_ID_ROLE, plate.id)
            item.setToolTip(plate_tooltip(plate))
            self.thumbnails.addItem(item)
            if selected is not None and plate.id == selected.id:
                self.thumbnails.setCurrentItem(item)
        self.shown_label.setText("{} of {} plates".format(len(plates), len(batch.kept_plates)))

    def _icon(self, path: str) -> QtGui.QIcon:
        try:
            key = (path, os.path.getmtime(path))
        except OSError:
            return QtGui.QIcon()
        pixmap = self._pixmaps.get(key)
        if pixmap is None:
            pixmap = QtGui.QPixmap(path).scaled(THUMB, THUMB, QtCore.Qt.AspectRatioMode.KeepAspectRatio,
                                                QtCore.Qt.TransformationMode.SmoothTransformation)
            self._pixmaps[key] = pixmap
        return QtGui.QIcon(pixmap)

    def _selected_plate(self) -> Optional[PlateView]:
        item = self.thumbnails.currentItem() if hasattr(self, "thumbnails") else None
        if item is None or self.batch is None:
            return None
        try:
            return self.batch.plate(str(item.data(PLATE_ID_ROLE)))
        except KeyError:
            return None

    def _plate_selected(self, *_args: object) -> None:
        plate = self._selected_plate()
        busy = self.job is not None
        for attribute, combo in self.review_combos.items():
            combo.setEnabled(plate is not None and not busy)
            if plate is not None:
                index = combo.findText(plate.label(attribute) or UNDETERMINED)
                combo.setCurrentIndex(max(0, index))
        self.review_button.setEnabled(plate is not None and not busy)
        if plate is None:
            self.plate_label.setText("Select a plate")
            return
        sources = ", ".join("{} {}".format(a.replace("_", " "), plate.sources[a])
                            for a in REVIEWABLE if a in plate.sources)
        self.plate_label.setText("<b>{}</b> &middot; seed {} &middot; {}<br><small>labelled by: {}</small>".format(
            plate.id, plate.seed, plate.prompt, sources or "nobody yet"))

    # -- audit actions ------------------------------------------------------------------------------
    def check_gate(self) -> bool:
        if not self._require_batch():
            return False
        assert self.batch is not None
        return self.start_job(command.gate_args(self.batch.folder), "Gating " + self.batch.name, self._gate_done)

    def _gate_done(self, outcome: Outcome) -> None:
        if outcome.result is None:
            return
        self.reload_batch()
        self.set_verdict(parse_verdict(outcome.result))
        self.show_status("Gate: {}.".format(self.verdict.name if self.verdict else "?"))

    def save_review(self) -> bool:
        plate = self._selected_plate()
        if plate is None or self.batch is None:
            self.show_error("Select a plate to review first.")
            return False
        reviewer = self.reviewer_edit.text().strip()
        if not reviewer:
            self.show_error("Enter the reviewer's name (it is stored with each corrected label).")
            return False
        changes = {a: c.currentText() for a, c in self.review_combos.items()
                   if c.currentText() != (plate.label(a) or UNDETERMINED)}
        if not changes:
            self.show_status("The labels of {} are unchanged; nothing to save.".format(plate.id))
            return False
        if reviewer != self.prefs.reviewer:
            self.prefs.reviewer = reviewer
            try:
                settings.save_preferences(self.prefs, self.prefs_path)
            except OSError:
                pass  # remembering the name is a convenience
        return self.start_job(command.review_args(self.batch.folder, plate.id, changes, reviewer),
                              "Saving labels of " + plate.id,
                              lambda outcome: self._review_done(plate.id, changes, outcome))

    def _review_done(self, plate_id: str, changes: Dict[str, str], outcome: Outcome) -> None:
        if not outcome.ok:
            return
        self.reload_batch()
        self.verdict_stale = True
        self._refresh_verdict()
        self._select_plate(plate_id)
        self.show_status("Saved {} for {}. Press Check gate for a verdict with the new labels.".format(
            ", ".join("{}={}".format(k, v) for k, v in sorted(changes.items())), plate_id))

    def _select_plate(self, plate_id: str) -> None:
        for row in range(self.thumbnails.count()):
            item = self.thumbnails.item(row)
            if item.data(PLATE_ID_ROLE) == plate_id:
                self.thumbnails.setCurrentItem(item)
                return

    def open_report(self) -> bool:
        """Open BATCH/report/report.html in the browser, making it first with ``castgate report``."""
        if not self._require_batch():
            return False
        assert self.batch is not None
        path = self.batch.report_html
        if os.path.isfile(path):
            return self._open_file(path)
        return self.start_job(command.report_args(self.batch.folder), "Writing the report",
                              lambda outcome: self._report_done(path, outcome))

    def _report_done(self, path: str, outcome: Outcome) -> None:
        if not outcome.ok:
            return
        if os.path.isfile(path):
            self._open_file(path)
        else:
            self.show_error("castgate report finished but {} is missing. Run `castgate report {} -o {}` in a "
                            "terminal to see why.".format(path, os.path.dirname(os.path.dirname(path)),
                                                          os.path.dirname(path)))

    def _open_file(self, path: str) -> bool:
        opened = QtGui.QDesktopServices.openUrl(QtCore.QUrl.fromLocalFile(path))
        if opened:
            self.show_status("Opened {}.".format(path))
        else:
            self.show_error("No browser opened {}. Open it by hand.".format(path))
        return bool(opened)

    # -- import -------------------------------------------------------------------------------------
    def import_plates(self) -> bool:
        """Gate again, then paste the kept plates (asking for an override when the verdict is not PASS)."""
        if not self._require_batch():
            return False
        batch = self.batch
        assert batch is not None
        plates = batch.kept_plates
        if not plates:
            self.show_error("Batch {} has no kept plates to import.".format(batch.name))
            return False
        missing = [p.id for p in plates if not p.exr or not os.path.isfile(p.exr)]
        if missing:
            self.show_error("{} plate(s) have no EXR on disk ({}). Regenerate the batch or restore its files "
                            "before importing.".format(len(missing), ", ".join(missing[:5])))
            return False
        return self.start_job(command.gate_args(batch.folder), "Gating {} before import".format(batch.name),
                              self._import_gate_done)

    def _import_gate_done(self, outcome: Outcome) -> None:
        if outcome.result is None:
            if not outcome.cancelled:
                self.show_error("Nothing imported: the gate could not run.\n{}".format(outcome.error or ""))
            return
        self.reload_batch()
        verdict = parse_verdict(outcome.result)
        self.set_verdict(verdict)
        if verdict.passed:
            self.paste_plates(verdict.name, note="")
            return
        assert self.batch is not None
        answer = self.ask_override(verdict)
        if answer is None:
            self.show_status("Nothing imported: batch {} is {} and no override was given.".format(
                self.batch.name, verdict.name))
            return
        reason, user = answer
        self.start_job(command.override_args(self.batch.folder, reason, user),
                       "Recording the override",
                       lambda o: self._override_done(verdict, reason, user, o))

    def ask_override(self, verdict: Verdict) -> Optional[Tuple[str, str]]:
        """Ask why plates are imported anyway; ``(reason, user)`` or None when cancelled."""
        assert self.batch is not None
        dialog = OverrideDialog(self.batch.name, verdict, self.reviewer_edit.text().strip() or login_name(), self)
        if not exec_(dialog) or not dialog.reason():
            return None
        return dialog.reason(), dialog.user()

    def _override_done(self, verdict: Verdict, reason: str, user: str, outcome: Outcome) -> None:
        if not outcome.ok:
            if not outcome.cancelled:
                self.show_error("Nothing imported: the override could not be recorded.\n{}".format(
                    outcome.error or ""))
            return
        self.paste_plates(verdict.name, note="imported with override by {}: {}".format(user, reason))

    def paste_plates(self, verdict: str, note: str) -> List[str]:
        """Paste the kept plates as plate nodes under a backdrop; return the pasted node names."""
        assert self.batch is not None
        text = nodes.import_script(self.batch, self.batch.kept_plates, origin=host.free_origin(),
                                   verdict=verdict, note=note, columns=self.columns_spin.value())
        pasted = host.paste_nodes(text)
        self.show_status("Imported {} plates of {} ({}{}) into the script.".format(
            len(self.batch.kept_plates), self.batch.name, verdict, ", with override" if note else ""))
        return pasted

    # -- small helpers ------------------------------------------------------------------------------
    def _require_batch(self) -> bool:
        if self.batch is None:
            folder = self.batch_edit.text().strip()
            if not folder or not self.open_batch(folder):
                if not folder:
                    self.show_error("Open a batch folder first (or run a request).")
                return False
        return True

    def _browse_batch(self) -> None:
        start = self.batch_edit.text() or os.path.dirname(self.output_edit.text())
        folder = QtWidgets.QFileDialog.getExistingDirectory(self, "A castgate batch folder", start)
        if folder:
            self.open_batch(folder)

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
            self.show_status("Saved the request to {}.".format(path))

    def _remove_selected_roles(self) -> None:
        rows = sorted({index.row() for index in self.roles_table.selectedIndexes()}, reverse=True)
        if not rows and self.roles_table.rowCount():
            rows = [self.roles_table.rowCount() - 1]
        for row in rows:
            self.roles_table.removeRow(row)

    def _open_settings(self) -> None:
        dialog = SettingsDialog(self.prefs_path, self)
        if exec_(dialog):
            self._load_preferences()


def thumbnail_text(plate: PlateView) -> str:
    """Caption under a thumbnail: role and index, then gender and skin group."""
    labels = " / ".join(plate.label(a) or "?" for a in REVIEWABLE)
    return "{} {:04d}\n{}".format(plate.role, plate.index, labels)


def plate_tooltip(plate: PlateView) -> str:
    lines = [plate.id, "seed {}".format(plate.seed), plate.prompt]
    for attribute in sorted(plate.labels):
        lines.append("{}: {} ({})".format(attribute, plate.labels[attribute], plate.sources.get(attribute, "")))
    return "\n".join(lines)


def show_panel() -> None:
    """Show the one panel: raise it if it exists, else open it in a pane."""
    panel = CastgatePanel.instance()
    if panel is not None:
        raise_widget(panel)
        return
    host.restore_panel()


def raise_widget(widget: QtWidgets.QWidget) -> None:
    """Bring a docked widget to the front: select its tab in every enclosing tab widget."""
    child = widget
    parent = widget.parentWidget()
    while parent is not None:
        if isinstance(parent, QtWidgets.QStackedWidget):
            parent.setCurrentWidget(child)
        child = parent
        parent = parent.parentWidget()
    widget.show()
    window = widget.window()
    window.raise_()
    window.activateWindow()

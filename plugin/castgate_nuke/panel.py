"""The dockable CastGate panel: a shell around three tabs (one module each).

Everything the panel does to a batch goes through the ``castgate`` command (see
:mod:`castgate_nuke.command`), run in the background by :class:`~castgate_nuke.process.CastgateJob`;
it reads the batch's ``manifest.json`` as plain JSON. Calls into Nuke go through
:mod:`castgate_nuke.host`.

The shell holds what the tabs share: the open batch and its verdict, the one running castgate job
(progress, cancel, log) and the status line. The tabs:

    :mod:`~castgate_nuke.request_tab`: roles, quota, seed and output folder; run locally or on the farm.
    :mod:`~castgate_nuke.audit_tab`: verdict, bars, thumbnails, label corrections, the HTML report.
    :mod:`~castgate_nuke.import_tab`: gate again, then paste the plates (override when not PASS).
"""

from __future__ import annotations

import os
import weakref
from typing import Callable, List, Optional

from castgate_nuke import host, settings
from castgate_nuke.audit_tab import AuditTab
from castgate_nuke.batch import BatchReadError, BatchView, Verdict, read_batch
from castgate_nuke.command import Outcome, Progress
from castgate_nuke.dialogs import SettingsDialog
from castgate_nuke.import_tab import ImportTab
from castgate_nuke.process import CastgateJob
from castgate_nuke.qt import QtCore, QtWidgets, exec_
from castgate_nuke.request_tab import RequestTab


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
        self._build()
        self._load_preferences()
        self.request_tab.start_request()
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

        self.request_tab = RequestTab(self)
        self.audit_tab = AuditTab(self)
        self.import_tab = ImportTab(self)
        self.tabs = QtWidgets.QTabWidget()
        self.tabs.addTab(self.request_tab, "Request")
        self.tabs.addTab(self.audit_tab, "Audit")
        self.tabs.addTab(self.import_tab, "Import")
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

    def show_tab(self, tab: QtWidgets.QWidget) -> None:
        self.tabs.setCurrentWidget(tab)

    def _load_preferences(self) -> None:
        try:
            self.prefs = settings.load_preferences(self.prefs_path)
        except settings.SettingsError as exc:
            self.show_error(str(exc))
        self.audit_tab.reviewer_edit.setText(self.prefs.reviewer or settings.login_name())

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
        for tab in (self.request_tab, self.audit_tab, self.import_tab):
            tab.set_busy(busy)
        for button in (self.refresh_button, self.open_button):
            button.setEnabled(not busy)
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
        self.audit_tab.show_batch()
        self._show_verdict()
        return True

    def reload_batch(self) -> bool:
        folder = self.batch.folder if self.batch else self.batch_edit.text()
        return self.open_batch(folder) if folder.strip() else False

    def set_verdict(self, verdict: Optional[Verdict], stale: bool = False) -> None:
        self.verdict = verdict
        self.verdict_stale = stale
        self._show_verdict()

    def _show_verdict(self) -> None:
        self.audit_tab.show_verdict()
        self.import_tab.show_verdict()

    def require_batch(self) -> bool:
        """Whether a batch is open (opening the folder typed in the header if needed); else say why not."""
        if self.batch is None:
            folder = self.batch_edit.text().strip()
            if not folder or not self.open_batch(folder):
                if not folder:
                    self.show_error("Open a batch folder first (or run a request).")
                return False
        return True

    def _browse_batch(self) -> None:
        start = self.batch_edit.text() or os.path.dirname(self.request_tab.output_edit.text())
        folder = QtWidgets.QFileDialog.getExistingDirectory(self, "A castgate batch folder", start)
        if folder:
            self.open_batch(folder)

    def _open_settings(self) -> None:
        dialog = SettingsDialog(self.prefs_path, self)
        if exec_(dialog):
            self._load_preferences()


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

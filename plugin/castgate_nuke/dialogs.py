"""The panel's dialogs: the import override (asks why) and the settings (where castgate lives)."""

from __future__ import annotations

from typing import Optional

from castgate_nuke import settings
from castgate_nuke.batch import Verdict
from castgate_nuke.qt import QtWidgets, exec_


class OverrideDialog(QtWidgets.QDialog):
    """Ask for the reason to import plates from a batch whose verdict is not PASS."""

    def __init__(self, batch_name: str, verdict: Verdict, user: str,
                 parent: Optional[QtWidgets.QWidget] = None) -> None:
        super().__init__(parent)
        self.setObjectName("castgateOverrideDialog")
        self.setWindowTitle("Import without a PASS")
        layout = QtWidgets.QVBoxLayout(self)
        quota = " under quota {}".format(verdict.quota) if verdict.quota else ""
        intro = QtWidgets.QLabel(
            "Batch <b>{}</b> is <b>{}</b>{}. Importing its plates anyway is recorded in the batch's "
            "manifest with your name and your reason, and the backdrop says so.".format(
                batch_name, verdict.name, quota))
        intro.setWordWrap(True)
        layout.addWidget(intro)
        if verdict.problems:
            problems = QtWidgets.QLabel("\n".join("\u2022 " + p for p in verdict.problems[:6]))
            problems.setWordWrap(True)
            layout.addWidget(problems)
        form = QtWidgets.QFormLayout()
        self.reason_edit = QtWidgets.QPlainTextEdit()
        self.reason_edit.setPlaceholderText("Why these plates are used anyway (required)")
        self.reason_edit.setMinimumHeight(70)
        self.user_edit = QtWidgets.QLineEdit(user)
        form.addRow("Reason", self.reason_edit)
        form.addRow("Your name", self.user_edit)
        layout.addLayout(form)
        self.buttons = QtWidgets.QDialogButtonBox()
        self.import_button = self.buttons.addButton("Import with override",
                                                    QtWidgets.QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.addButton(QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.reason_edit.textChanged.connect(self._update_button)
        self.user_edit.textChanged.connect(self._update_button)
        self._update_button()

    def reason(self) -> str:
        return self.reason_edit.toPlainText().strip()

    def user(self) -> str:
        return self.user_edit.text().strip()

    def _update_button(self) -> None:
        self.import_button.setEnabled(bool(self.reason()) and bool(self.user()))


class SettingsDialog(QtWidgets.QDialog):
    """Edit ``~/.nuke/castgate.json``: the castgate command, the reviewer name, the request template."""

    def __init__(self, prefs_path: Optional[str] = None, parent: Optional[QtWidgets.QWidget] = None) -> None:
        super().__init__(parent)
        self.setObjectName("castgateSettingsDialog")
        self.setWindowTitle("CastGate Settings")
        self.prefs_path = prefs_path or settings.default_prefs_path()
        try:
            prefs = settings.load_preferences(self.prefs_path)
            problem = ""
        except settings.SettingsError as exc:
            prefs, problem = settings.Preferences(), str(exc)
        layout = QtWidgets.QVBoxLayout(self)
        note = QtWidgets.QLabel(
            "castgate runs in its own Python environment, not Nuke's. Point the panel at the castgate "
            "command there. {} overrides this when set.".format(settings.ENV_EXECUTABLE))
        note.setWordWrap(True)
        layout.addWidget(note)
        form = QtWidgets.QFormLayout()
        self.executable_edit = QtWidgets.QLineEdit(prefs.executable)
        self.executable_edit.setPlaceholderText("/opt/castgate/.venv/bin/castgate")
        browse = QtWidgets.QPushButton("Browse...")
        browse.clicked.connect(self._browse)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.executable_edit)
        row.addWidget(browse)
        form.addRow("castgate command", row)
        self.reviewer_edit = QtWidgets.QLineEdit(prefs.reviewer)
        form.addRow("Reviewer name", self.reviewer_edit)
        self.template_edit = QtWidgets.QLineEdit(prefs.request_template)
        self.template_edit.setPlaceholderText("request TOML with the studio's [models] and [sampling]")
        form.addRow("Request template", self.template_edit)
        layout.addLayout(form)
        self.check_label = QtWidgets.QLabel(problem)
        self.check_label.setWordWrap(True)
        layout.addWidget(self.check_label)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Save
                                             | QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.executable_edit.textChanged.connect(self._check)
        self._check()

    def preferences(self) -> settings.Preferences:
        return settings.Preferences(executable=self.executable_edit.text().strip(),
                                    reviewer=self.reviewer_edit.text().strip(),
                                    request_template=self.template_edit.text().strip())

    def _check(self) -> None:
        path = self.executable_edit.text().strip()
        if not path:
            self.check_label.setText("No castgate command set here: {} or a castgate on PATH is used."
                                     .format(settings.ENV_EXECUTABLE))
            return
        try:
            settings.check_executable(path, "The castgate command")
        except settings.SettingsError as exc:
            self.check_label.setText(str(exc))
        else:
            self.check_label.setText("OK: {} is an executable file.".format(path))

    def _browse(self) -> None:
        path, _filter = QtWidgets.QFileDialog.getOpenFileName(self, "The castgate command",
                                                              self.executable_edit.text())
        if path:
            self.executable_edit.setText(path)

    def save(self) -> None:
        settings.save_preferences(self.preferences(), self.prefs_path)
        self.accept()


def open_settings(prefs_path: Optional[str] = None, parent: Optional[QtWidgets.QWidget] = None) -> bool:
    """Show the settings dialog; True when saved."""
    dialog = SettingsDialog(prefs_path, parent)
    return bool(exec_(dialog))

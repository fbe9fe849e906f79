"""The panel's Audit tab: verdict (and the question it answers), per-role bars against the target band,
the plates the cast question asks to review, thumbnails filtered by role and label, label corrections
(``castgate review``; reviewing a listed plate gates again) and the HTML report."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Dict, Optional, Tuple

from castgate_nuke import command, host, settings
from castgate_nuke.batch import REVIEWABLE, UNDETERMINED, PlateView, bar_rows, filter_plates, label_filters, \
    parse_verdict, review_reasons
from castgate_nuke.command import Outcome
from castgate_nuke.qt import QtCore, QtGui, QtWidgets
from castgate_nuke.widgets import BandChart, VerdictBanner

if TYPE_CHECKING:
    from castgate_nuke.panel import CastgatePanel

THUMB = 96
PLATE_ID_ROLE = QtCore.Qt.ItemDataRole.UserRole


def thumbnail_text(plate: PlateView) -> str:
    """Caption under a thumbnail: role and index, then gender and skin group."""
    labels = " / ".join(plate.label(a) or "?" for a in REVIEWABLE)
    return "{} {:04d}\n{}".format(plate.role, plate.index, labels)


def plate_tooltip(plate: PlateView) -> str:
    lines = [plate.id, "seed {}".format(plate.seed), plate.prompt]
    for attribute in sorted(plate.labels):
        lines.append("{}: {} ({})".format(attribute, plate.labels[attribute], plate.sources.get(attribute, "")))
    return "\n".join(lines)


class AuditTab(QtWidgets.QWidget):
    """Show the open batch's audit; ``panel`` is the shell that runs castgate and holds the batch."""

    def __init__(self, panel: "CastgatePanel") -> None:
        super().__init__()
        self.panel = panel
        self._pixmaps: Dict[Tuple[str, float], QtGui.QPixmap] = {}
        self._build()

    def _build(self) -> None:
        layout = QtWidgets.QVBoxLayout(self)
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
        self.balance_label = QtWidgets.QLabel("")
        self.balance_label.setWordWrap(True)
        self.balance_label.setToolTip("castgate balance: what the generator drew with the plain prompt beside the "
                                      "kept cast, and the steering used (the report shows intervals)")
        self.balance_label.setVisible(False)
        layout.addWidget(self.balance_label)

        self.review_box = QtWidgets.QGroupBox("Review these plates")
        review_list_layout = QtWidgets.QVBoxLayout(self.review_box)
        self.question_label = QtWidgets.QLabel("")
        self.question_label.setWordWrap(True)
        review_list_layout.addWidget(self.question_label)
        self.review_list = QtWidgets.QListWidget()
        self.review_list.setMaximumHeight(96)
        self.review_list.currentItemChanged.connect(self._review_item_selected)
        review_list_layout.addWidget(self.review_list)
        self.review_box.setVisible(False)
        layout.addWidget(self.review_box)

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
        self.thumbnails.itemDoubleClicked.connect(self._view_plate)
        self.thumbnails.setToolTip("Double-click a plate to view it in the Viewer")
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

    def set_busy(self, busy: bool) -> None:
        """Disable what starts castgate while a job runs."""
        for button in (self.gate_button, self.report_button):
            button.setEnabled(not busy)
        self.review_button.setEnabled(not busy and self.selected_plate() is not None)

    def reviewer(self) -> str:
        """The reviewer's name as typed, else the login name."""
        return self.reviewer_edit.text().strip() or settings.login_name()

    # -- showing the batch --------------------------------------------------------------------------
    def show_batch(self) -> None:
        """Refill the role and label filters and the thumbnails from the panel's batch."""
        batch = self.panel.batch
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
        self.balance_label.setText("\n".join(batch.balance))
        self.balance_label.setVisible(bool(batch.balance))
        self._fill_thumbnails()

    def show_verdict(self) -> None:
        """Show the panel's verdict in the banner and the bar chart."""
        panel = self.panel
        batch = panel.batch
        name = batch.name if batch else ""
        count = len(batch.kept_plates) if batch else 0
        self.banner.show_verdict(panel.verdict, name, panel.verdict_stale, count)
        self.chart.set_bars(bar_rows(panel.verdict) if panel.verdict else [])
        self._fill_review_list()

    def _fill_review_list(self) -> None:
        """The cast question's plates to review, most decisive first, each with why it matters."""
        verdict = self.panel.verdict
        self.review_list.blockSignals(True)
        self.review_list.clear()
        ids = verdict.review if verdict is not None else ()
        reasons = review_reasons(verdict) if verdict is not None else {}
        for plate_id in ids:
            why = reasons.get(plate_id, [])
            item = QtWidgets.QListWidgetItem(plate_id + ("  -  " + why[0] if why else ""))
            item.setData(PLATE_ID_ROLE, plate_id)
            item.setToolTip("\n".join(why) or plate_id)
            self.review_list.addItem(item)
        self.review_list.blockSignals(False)
        question = verdict.question if verdict is not None else ""
        if question:
            self.question_label.setText(
                "Question: {}. {}".format(question, "{} plate{} could change the verdict; select one to review it. "
                                          "Saving its labels gates again.".format(len(ids), "s" if len(ids) != 1 else "")
                                          if ids else "Nothing to review."))
        self.review_box.setVisible(bool(ids))

    def _review_item_selected(self, *_args: object) -> None:
        item = self.review_list.currentItem()
        if item is None:
            return
        plate_id = str(item.data(PLATE_ID_ROLE))
        if all(self.thumbnails.item(row).data(PLATE_ID_ROLE) != plate_id for row in range(self.thumbnails.count())):
            self.role_filter.setCurrentIndex(0)  # the plate may be filtered out: show every plate
            self.label_filter.setCurrentIndex(0)
        self._select_plate(plate_id)

    def _fill_thumbnails(self, *_args: object) -> None:
        batch = self.panel.batch
        selected = self.selected_plate()
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

    def selected_plate(self) -> Optional[PlateView]:
        item = self.thumbnails.currentItem() if hasattr(self, "thumbnails") else None
        batch = self.panel.batch
        if item is None or batch is None:
            return None
        try:
            return batch.plate(str(item.data(PLATE_ID_ROLE)))
        except KeyError:
            return None

    def _plate_selected(self, *_args: object) -> None:
        plate = self.selected_plate()
        busy = self.panel.job is not None
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

    def _view_plate(self, item: QtWidgets.QListWidgetItem) -> None:
        """Show the double-clicked plate's EXR in Nuke's Viewer."""
        batch = self.panel.batch
        if batch is None:
            return
        try:
            plate = batch.plate(str(item.data(PLATE_ID_ROLE)))
        except KeyError:
            return
        if not plate.exr or not os.path.isfile(plate.exr):
            self.panel.show_error("{} has no EXR on disk ({}).".format(plate.id, plate.exr or "none recorded"))
            return
        host.view_file(plate.exr)
        self.panel.show_status("Showing {} in the Viewer.".format(plate.id))

    def _select_plate(self, plate_id: str) -> None:
        for row in range(self.thumbnails.count()):
            item = self.thumbnails.item(row)
            if item.data(PLATE_ID_ROLE) == plate_id:
                self.thumbnails.setCurrentItem(item)
                return

    # -- actions ------------------------------------------------------------------------------------
    def check_gate(self) -> bool:
        panel = self.panel
        if not panel.require_batch():
            return False
        assert panel.batch is not None
        return panel.start_job(command.gate_args(panel.batch.folder), "Gating " + panel.batch.name,
                               self._gate_done)

    def _gate_done(self, outcome: Outcome) -> None:
        panel = self.panel
        if outcome.result is None:
            return
        panel.reload_batch()
        panel.set_verdict(parse_verdict(outcome.result))
        panel.show_status("Gate: {}.".format(panel.verdict.name if panel.verdict else "?"))

    def save_review(self) -> bool:
        panel = self.panel
        plate = self.selected_plate()
        if plate is None or panel.batch is None:
            panel.show_error("Select a plate to review first.")
            return False
        reviewer = self.reviewer_edit.text().strip()
        if not reviewer:
            panel.show_error("Enter the reviewer's name (it is stored with each corrected label).")
            return False
        changes = {a: c.currentText() for a, c in self.review_combos.items()
                   if c.currentText() != (plate.label(a) or UNDETERMINED)}
        if not changes:
            panel.show_status("The labels of {} are unchanged; nothing to save.".format(plate.id))
            return False
        if reviewer != panel.prefs.reviewer:
            panel.prefs.reviewer = reviewer
            try:
                settings.save_preferences(panel.prefs, panel.prefs_path)
            except OSError:
                pass  # remembering the name is a convenience
        return panel.start_job(command.review_args(panel.batch.folder, plate.id, changes, reviewer),
                               "Saving labels of " + plate.id,
                               lambda outcome: self._review_done(plate.id, changes, outcome))

    def _review_done(self, plate_id: str, changes: Dict[str, str], outcome: Outcome) -> None:
        panel = self.panel
        if not outcome.ok:
            return
        listed = panel.verdict is not None and plate_id in panel.verdict.review
        panel.reload_batch()
        panel.set_verdict(panel.verdict, stale=True)
        self._select_plate(plate_id)
        saved = ", ".join("{}={}".format(k, v) for k, v in sorted(changes.items()))
        if listed:  # a plate the cast question asked about: its review updates the verdict at once
            panel.show_status("Saved {} for {}; gating again.".format(saved, plate_id))
            self.check_gate()
            return
        panel.show_status("Saved {} for {}. Press Check gate for a verdict with the new labels.".format(
            saved, plate_id))

    def open_report(self) -> bool:
        """Open BATCH/report/report.html in the browser, making it first with ``castgate report``."""
        panel = self.panel
        if not panel.require_batch():
            return False
        assert panel.batch is not None
        path = panel.batch.report_html
        if os.path.isfile(path):
            return self._open_file(path)
        return panel.start_job(command.report_args(panel.batch.folder), "Writing the report",
                               lambda outcome: self._report_done(path, outcome))

    def _report_done(self, path: str, outcome: Outcome) -> None:
        if not outcome.ok:
            return
        if os.path.isfile(path):
            self._open_file(path)
        else:
            self.panel.show_error(
                "castgate report finished but {} is missing. Run `castgate report {} -o {}` in a terminal to "
                "see why.".format(path, os.path.dirname(os.path.dirname(path)), os.path.dirname(path)))

    def _open_file(self, path: str) -> bool:
        opened = QtGui.QDesktopServices.openUrl(QtCore.QUrl.fromLocalFile(path))
        if opened:
            self.panel.show_status("Opened {}.".format(path))
        else:
            self.panel.show_error("No browser opened {}. Open it by hand.".format(path))
        return bool(opened)

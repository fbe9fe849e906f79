"""Small display widgets of the panel: the verdict banner, the per-role band chart, the import preview."""

from __future__ import annotations

from typing import List, Optional, Sequence

from castgate_nuke.batch import CastCounts, CategoryBar, PlateView, Verdict
from castgate_nuke.nodes import DEFAULT_COLUMNS, HEADER, OVERRIDE_COLOUR, PLATE_COLOUR, grid_positions
from castgate_nuke.nodes import VERDICT_COLOURS as VERDICT_TILE_COLOURS
from castgate_nuke.qt import QtCore, QtGui, QtWidgets

VERDICT_COLOURS = {
    "PASS": "#2e7d32", "FAIL": "#c62828", "UNDECIDED": "#b7791f", "INSUFFICIENT": "#b7791f",
    "UNAUDITABLE": "#6d4c41", "TAMPERED": "#6a1b9a",
}
UNKNOWN_COLOUR = "#616161"


def verdict_colour(name: str) -> str:
    return VERDICT_COLOURS.get(name, UNKNOWN_COLOUR)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class VerdictBanner(QtWidgets.QLabel):
    """The batch verdict in large type on its colour, with the quota and a staleness note."""

    def __init__(self, parent: Optional[QtWidgets.QWidget] = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setMinimumHeight(44)
        self.show_verdict(None, "", stale=False)

    def show_verdict(self, verdict: Optional[Verdict], batch_name: str, stale: bool,
                     plate_count: int = 0) -> None:
        if verdict is None:
            name, detail = "NOT GATED", "run the gate to get a verdict" if batch_name else "no batch open"
        else:
            name = verdict.name
            detail = "quota {}".format(verdict.quota) if verdict.quota else ""
            if verdict.question:
                detail += " ({} question)".format(verdict.question)
        parts = [p for p in (batch_name, detail, "{} kept plates".format(plate_count) if plate_count else "") if p]
        note = ""
        if verdict is not None and verdict.summary:
            note += "<br><small>{}</small>".format(_escape(verdict.summary))
        if stale:
            note += "<br><i>labels changed since this verdict: press Check gate</i>"
        self.setText("<span style='font-size:16pt; font-weight:bold'>{}</span>&nbsp;&nbsp;{}{}".format(
            name, " &middot; ".join(parts), note))
        self.setStyleSheet("QLabel {{ background: {}; color: white; padding: 6px; border-radius: 3px; }}"
                           .format(verdict_colour(name)))
        self.setProperty("verdict", name)


class BandChart(QtWidgets.QWidget):
    """One row per scope and attribute: observed share with its interval against the target band."""

    ROW = 22
    LABEL_WIDTH = 190
    VALUE_WIDTH = 210
    TOP = 18

    def __init__(self, parent: Optional[QtWidgets.QWidget] = None) -> None:
        super().__init__(parent)
        self._bars: List[CategoryBar] = []
        self.setSizePolicy(QtWidgets.QSizePolicy.Policy.Expanding, QtWidgets.QSizePolicy.Policy.Fixed)

    def set_bars(self, bars: Sequence[CategoryBar]) -> None:
        self._bars = list(bars)
        self.setFixedHeight(self.sizeHint().height())
        self.update()

    def bars(self) -> List[CategoryBar]:
        return list(self._bars)

    def sizeHint(self) -> QtCore.QSize:
        return QtCore.QSize(520, self.TOP + max(1, len(self._bars)) * self.ROW + 6)

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:
        painter = QtGui.QPainter(self)
        painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, True)
        palette = self.palette()
        text_colour = palette.color(QtGui.QPalette.ColorRole.WindowText)
        left = self.LABEL_WIDTH
        width = max(40, self.width() - self.LABEL_WIDTH - self.VALUE_WIDTH - 10)
        painter.setPen(text_colour)
        if not self._bars:
            painter.drawText(QtCore.QRect(0, 0, self.width(), self.height()),
                             int(QtCore.Qt.AlignmentFlag.AlignCenter), "No gate results yet")
            painter.end()
            return
        for fraction, text in ((0.0, "0%"), (0.5, "50%"), (1.0, "100%")):
            x = left + int(fraction * width)
            painter.drawText(QtCore.QRect(x - 20, 0, 40, self.TOP - 2),
                             int(QtCore.Qt.AlignmentFlag.AlignCenter), text)
        for row, bar in enumerate(self._bars):
            y = self.TOP + row * self.ROW
            middle = y + self.ROW // 2
            painter.setPen(text_colour)
            painter.drawText(QtCore.QRect(4, y, left - 8, self.ROW),
                             int(QtCore.Qt.AlignmentFlag.AlignVCenter | QtCore.Qt.AlignmentFlag.AlignLeft),
                             "{} \u00b7 {}: {}".format(bar.scope, bar.attribute, bar.category))
            if bar.observed is None and bar.ci is None and bar.band is None:
                # the manifest's compact record: verdict and reason only, no intervals to draw
                painter.setPen(QtGui.QColor(verdict_colour(bar.verdict)))
                painter.drawText(QtCore.QRect(left, y, width + self.VALUE_WIDTH, self.ROW),
                                 int(QtCore.Qt.AlignmentFlag.AlignVCenter | QtCore.Qt.AlignmentFlag.AlignLeft),
                                 "{}: {}".format(bar.verdict, bar.reason or "no detail recorded"))
                continue
            painter.fillRect(QtCore.QRect(left, middle - 1, width, 2), QtGui.QColor("#9e9e9e"))
            if bar.band is not None:
                x0 = left + int(bar.band[0] * width)
                x1 = left + int(bar.band[1] * width)
                painter.fillRect(QtCore.QRect(x0, middle - 7, max(2, x1 - x0), 14), QtGui.QColor(76, 175, 80, 70))
            if bar.target is not None:
                x = left + int(bar.target * width)
                painter.fillRect(QtCore.QRect(x - 1, middle - 8, 2, 16), QtGui.QColor("#4caf50"))
            colour = QtGui.QColor(verdict_colour(bar.verdict))
            if bar.ci is not None:
                x0 = left + int(bar.ci[0] * width)
                x1 = left + int(bar.ci[1] * width)
                painter.fillRect(QtCore.QRect(x0, middle - 2, max(2, x1 - x0), 4), colour)
            if bar.observed is not None:
                x = left + int(bar.observed * width)
                painter.setBrush(colour)
                painter.setPen(QtGui.QPen(QtGui.QColor("white"), 1))
                painter.drawEllipse(QtCore.QPoint(x, middle), 5, 5)
            painter.setPen(text_colour)
            painter.drawText(QtCore.QRect(left + width + 10, y, self.VALUE_WIDTH, self.ROW),
                             int(QtCore.Qt.AlignmentFlag.AlignVCenter | QtCore.Qt.AlignmentFlag.AlignLeft),
                             bar_text(bar))
        painter.end()


    def row_at(self, y: int) -> Optional[CategoryBar]:
        """The bar drawn at height ``y``, if any."""
        row = (y - self.TOP) // self.ROW
        return self._bars[row] if y >= self.TOP and 0 <= row < len(self._bars) else None

    def event(self, event: QtCore.QEvent) -> bool:
        if event.type() == QtCore.QEvent.Type.ToolTip and isinstance(event, QtGui.QHelpEvent):
            bar = self.row_at(event.pos().y())
            if bar is not None:
                QtWidgets.QToolTip.showText(event.globalPos(), bar_tooltip(bar), self)
            else:
                QtWidgets.QToolTip.hideText()
            return True
        return super().event(event)


def bar_tooltip(bar: CategoryBar) -> str:
    """Everything known about one bar, for its tooltip."""
    lines = ["{} · {} · {}: {}".format(bar.scope, bar.attribute, bar.category or "all", bar.verdict)]
    if bar.counts is not None:
        lines.extend(cast_lines(bar.counts))
    elif bar.observed is not None:
        lines.append("observed {:.0%}".format(bar.observed)
                     + (" (interval {:.0%} to {:.0%})".format(*bar.ci) if bar.ci else ""))
    if bar.band is not None:
        lines.append("target band {:.0%} to {:.0%}".format(*bar.band))
    if bar.n is not None:
        lines.append("{} determined, {} undetermined".format(bar.n, bar.undetermined or 0))
    if bar.needed:
        lines.append("about {} more plates to decide".format(bar.needed))
    if bar.reason:
        lines.append(bar.reason)
    return "\n".join(lines)


def cast_lines(counts: CastCounts) -> List[str]:
    """The cast question's counts for a tooltip: labels, plausible true count, the band."""
    band = ("no whole count" if counts.band_low > counts.band_high
            else "{}–{} of {}".format(counts.band_low, counts.band_high, counts.plates))
    return ["labelled {} of {} ({} by people)".format(counts.labelled, counts.plates, counts.certain),
            "true count could be {}–{}".format(counts.low, counts.high),
            "the quota allows {}".format(band)]


def bar_text(bar: CategoryBar) -> str:
    """``"30% n=40 FAIL"``, ``"-- INSUFFICIENT, 12 more"``, or for a cast ``"20 of 40, could be 18–22 PASS"``."""
    if bar.counts is not None:
        counts = bar.counts
        could_be = ("" if counts.low == counts.high == counts.labelled
                    else ", could be {}–{}".format(counts.low, counts.high))
        return "{} of {}{} {}".format(counts.labelled, counts.plates, could_be, bar.verdict)
    share = "--" if bar.observed is None else "{:.0f}%".format(100 * bar.observed)
    parts = [share]
    if bar.n is not None:
        parts.append("n={}".format(bar.n))
    parts.append(bar.verdict)
    text = " ".join(parts)
    if bar.needed:
        text += ", {} more".format(bar.needed)
    return text


class LayoutPreview(QtWidgets.QWidget):
    """A sketch of what Import pastes: the backdrop and the plate nodes in their grid, to scale."""

    TILE = (80, 34)  # a plate Group's tile in DAG units, with its two-line label

    def __init__(self, parent: Optional[QtWidgets.QWidget] = None) -> None:
        super().__init__(parent)
        self._plates: List[PlateView] = []
        self._batch = ""
        self._verdict = ""
        self._columns = DEFAULT_COLUMNS
        self.setMinimumHeight(160)
        self.setSizePolicy(QtWidgets.QSizePolicy.Policy.Expanding, QtWidgets.QSizePolicy.Policy.Expanding)

    def set_layout(self, batch_name: str, verdict: str, plates: Sequence[PlateView], columns: int) -> None:
        self._batch, self._verdict, self._plates, self._columns = batch_name, verdict, list(plates), columns
        self.update()

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:
        painter = QtGui.QPainter(self)
        painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, True)
        painter.fillRect(self.rect(), QtGui.QColor("#3a3a3a"))  # Nuke's DAG grey
        if not self._plates:
            painter.setPen(QtGui.QColor("#bbbbbb"))
            painter.drawText(self.rect(), int(QtCore.Qt.AlignmentFlag.AlignCenter), "No plates to import")
            painter.end()
            return
        positions, (width, height) = grid_positions(self._plates, (0, 0), self._columns)
        scale = min((self.width() - 20) / float(width), (self.height() - 20) / float(height), 1.6)
        ox = (self.width() - width * scale) / 2.0
        oy = (self.height() - height * scale) / 2.0

        def rect(x: float, y: float, w: float, h: float) -> QtCore.QRectF:
            return QtCore.QRectF(ox + x * scale, oy + y * scale, w * scale, h * scale)

        backdrop = VERDICT_TILE_COLOURS.get(self._verdict, OVERRIDE_COLOUR)
        painter.fillRect(rect(0, 0, width, height), _rgba(backdrop))
        painter.setPen(QtGui.QColor("white"))
        painter.drawText(rect(8, 4, width - 16, HEADER - 8),
                         int(QtCore.Qt.AlignmentFlag.AlignLeft | QtCore.Qt.AlignmentFlag.AlignTop),
                         "castgate batch {}\nverdict: {}".format(self._batch, self._verdict or "?"))
        font = painter.font()
        font.setPointSizeF(max(5.0, min(9.0, 7.0 * scale)))
        painter.setFont(font)
        for plate, (x, y) in zip(self._plates, positions):
            tile = rect(x, y, self.TILE[0], self.TILE[1])
            painter.fillRect(tile, _rgba(PLATE_COLOUR))
            painter.setPen(QtGui.QColor("#1e1e1e"))
            painter.drawRect(tile)
            painter.setPen(QtGui.QColor("white"))
            painter.drawText(tile, int(QtCore.Qt.AlignmentFlag.AlignCenter), "{} {:04d}\n{} / {}".format(
                plate.role, plate.index, plate.label("gender") or "?", plate.label("skin_group") or "?"))
        painter.end()


def _rgba(value: int) -> QtGui.QColor:
    return QtGui.QColor((value >> 24) & 255, (value >> 16) & 255, (value >> 8) & 255)

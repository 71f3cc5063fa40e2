"""Colours and fonts of the graph: one hue per layer kind, tinted to the light or dark palette."""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPalette

from explorer.gui.widgets.graph_view.layout import BLOCK

# Distinct hues that stay apart for the common colour-vision deficiencies where it matters most
# (conv vs. norm vs. activation vs. pool), and read on white and on near-black.
KIND_COLORS = MappingProxyType(
    {
        "input": QColor("#64748b"),
        "conv": QColor("#2f6fde"),
        "linear": QColor("#8b5cf6"),
        "attention": QColor("#db2777"),
        "pool": QColor("#0d9488"),
        "norm": QColor("#d99a06"),
        "activation": QColor("#16a34a"),
        "dropout": QColor("#94a3b8"),
        "merge": QColor("#ea580c"),
        "elementwise": QColor("#0891b2"),
        "reshape": QColor("#a16207"),
        "other": QColor("#9ca3af"),
        BLOCK: QColor("#4f46e5"),
    }
)


def kind_color(kind: str) -> QColor:
    """The hue of a layer kind (``layers.KINDS`` or ``"block"``), for legends elsewhere too."""
    return QColor(KIND_COLORS.get(kind, KIND_COLORS["other"]))


def _mix(a: QColor, b: QColor, t: float) -> QColor:
    """``a`` moved a fraction ``t`` towards ``b``."""
    return QColor.fromRgbF(
        a.redF() + (b.redF() - a.redF()) * t,
        a.greenF() + (b.greenF() - a.greenF()) * t,
        a.blueF() + (b.blueF() - a.blueF()) * t,
        a.alphaF() + (b.alphaF() - a.alphaF()) * t,
    )


@dataclass(frozen=True)
class Theme:
    dark: bool
    background: QColor
    text: QColor
    muted: QColor
    edge: QColor
    shortcut: QColor
    highlight: QColor
    frame_fill: QColor
    frame_border: QColor
    title_font: QFont
    detail_font: QFont
    frame_font: QFont
    title_metrics: QFontMetricsF
    detail_metrics: QFontMetricsF
    frame_metrics: QFontMetricsF

    @classmethod
    def from_palette(cls, palette: QPalette, font: QFont) -> Theme:
        base = palette.color(QPalette.ColorRole.Base)
        text = palette.color(QPalette.ColorRole.Text)
        dark = base.lightness() < 128
        title = QFont(font)
        title.setPointSizeF(max(8.0, font.pointSizeF() * 0.95))
        title.setWeight(QFont.Weight.DemiBold)
        detail = QFont(font)
        detail.setPointSizeF(max(7.0, font.pointSizeF() * 0.82))
        frame = QFont(detail)
        frame.setItalic(True)
        return cls(
            dark=dark,
            background=base,
            text=text,
            muted=_mix(text, base, 0.38),
            edge=_mix(text, base, 0.5),
            shortcut=QColor("#ff922b") if dark else QColor("#d9480f"),
            highlight=palette.color(QPalette.ColorRole.Highlight),
            frame_fill=_mix(base, text, 0.045),
            frame_border=_mix(base, text, 0.2),
            title_font=title,
            detail_font=detail,
            frame_font=frame,
            title_metrics=QFontMetricsF(title),
            detail_metrics=QFontMetricsF(detail),
            frame_metrics=QFontMetricsF(frame),
        )

    def fill(self, kind: str) -> QColor:
        return _mix(self.background, kind_color(kind), 0.26 if self.dark else 0.13)

    def border(self, kind: str) -> QColor:
        hue = kind_color(kind)
        return hue.lighter(125) if self.dark else hue.darker(110)

"""Colours and fonts of the graph: one hue per layer kind, tinted to the light or dark palette, and
the zoom bands that keep every label at 9 pt or more on screen."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import MappingProxyType

from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPalette

from explorer.gui.widgets.graph_view.layout import BLOCK

#: No label is ever drawn smaller than this on screen (point size × the view's scale).
MIN_SCREEN_PT = 9.0
#: Zoom bands: band 0 is a scale of 1 or more; band k ≥ 1 is [2^(-k/8), 2^(-(k-1)/8)). Within a
#: band a label's font is fixed in scene units, MIN_SCREEN_PT at the band's smallest scale, so on
#: screen it stays between 9 and 9.8 pt; further out, less fits (a name without its shape, then
#: only the colour), but nothing gets smaller.
BANDS_PER_OCTAVE = 8
MAX_BAND = 9 * BANDS_PER_OCTAVE  # a scale of 1/512


def zoom_band(scale: float) -> int:
    if scale >= 1.0:
        return 0
    return min(MAX_BAND, math.ceil(-BANDS_PER_OCTAVE * math.log2(max(scale, 1e-9)) - 1e-9))


def band_scale(band: int) -> float:
    """The smallest scale of a band."""
    return 2.0 ** (-band / BANDS_PER_OCTAVE)


def band_point_size(band: int) -> float:
    """The scene font size of a band ≥ 1: MIN_SCREEN_PT on screen at the band's smallest scale."""
    return MIN_SCREEN_PT / band_scale(band)


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
    marked: QColor  # a node a what-if edit changed
    affected: QColor  # … and the nodes downstream whose numbers changed with it
    title_font: QFont
    detail_font: QFont
    frame_font: QFont
    title_metrics: QFontMetricsF
    detail_metrics: QFontMetricsF
    frame_metrics: QFontMetricsF
    _band_fonts: dict[tuple[str, int], tuple[QFont, QFontMetricsF]] = field(
        default_factory=dict, repr=False, compare=False
    )

    @classmethod
    def from_palette(cls, palette: QPalette, font: QFont) -> Theme:
        base = palette.color(QPalette.ColorRole.Base)
        text = palette.color(QPalette.ColorRole.Text)
        dark = base.lightness() < 128
        # At a scale of 1 (and up) every label is at least MIN_SCREEN_PT, whatever the system font.
        title = QFont(font)
        title.setPointSizeF(max(MIN_SCREEN_PT, font.pointSizeF() * 0.95))
        title.setWeight(QFont.Weight.DemiBold)
        detail = QFont(font)
        detail.setPointSizeF(max(MIN_SCREEN_PT, font.pointSizeF() * 0.9))
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
            marked=QColor("#e879f9") if dark else QColor("#c026d3"),
            affected=QColor("#fbbf24") if dark else QColor("#d97706"),
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

    def compact_fill(self, kind: str) -> QColor:
        """Zoomed out, the kind's colour carries more of the card: a stronger tint."""
        return _mix(self.background, kind_color(kind), 0.45 if self.dark else 0.32)

    def border(self, kind: str) -> QColor:
        hue = kind_color(kind)
        return hue.lighter(125) if self.dark else hue.darker(110)

    def band_font(self, role: str, band: int) -> tuple[QFont, QFontMetricsF]:
        """The font of ``role`` ("title", "detail", "frame") in zoom band ``band``, and its metrics."""
        key = (role, band)
        if key not in self._band_fonts:
            base = {"title": self.title_font, "detail": self.detail_font, "frame": self.frame_font}[role]
            font = QFont(base)
            if band > 0:
                font.setPointSizeF(band_point_size(band))
            self._band_fonts[key] = (font, QFontMetricsF(font))
        return self._band_fonts[key]

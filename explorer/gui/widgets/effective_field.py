"""The effective receptive field on the feature-map view's input crop (issue 14).

When a position of a channel's large view is clicked, the pane already outlines the theoretical
receptive field (``features.receptive_box``). This overlay adds the effective one: the gradient
of that unit with respect to the input (√ scale, alpha rising with the value, as in the core's
``effective_field_image``), the contours at the gradient levels that enclose 50 % (white) and
90 % (orange) of its mass, and the share of the box each needs. It is computed by the core's
``Explainer`` in a worker; a newer click cancels the older one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pyqtgraph as pg

from explorer.gui import explain_jobs
from explorer.gui.widgets.explain_view import heat_lookup_table
from explorer.gui.workers import TaskRunner

if TYPE_CHECKING:
    from explorer.core.explain import EffectiveField
    from explorer.gui.widgets.feature_maps import FeaturePane

CONTOUR_PENS = {0.5: pg.mkPen("#ffffff", width=1.5), 0.9: pg.mkPen("#ff9800", width=1.5)}


class EffectiveFieldOverlay:
    """Draws a unit's effective field on a ``FeaturePane``'s input crop, beside the theoretical box."""

    def __init__(self, pane: FeaturePane) -> None:
        self.pane = pane
        self.field: EffectiveField | None = None
        self._request: tuple[Any, ...] | None = None
        self.heat_item = pg.ImageItem(axisOrder="row-major")
        self.heat_item.setLookupTable(heat_lookup_table())
        self.heat_item.setOpacity(0.9)
        self.heat_item.setZValue(5)
        pane.crop_box.addItem(self.heat_item)
        pane.rf_item.setZValue(10)  # the theoretical box stays on top
        self.contours: dict[float, pg.IsocurveItem] = {}
        for level, pen in CONTOUR_PENS.items():
            contour = pg.IsocurveItem(pen=pen)
            contour.setParentItem(self.heat_item)  # in the crop's pixel coordinates
            self.contours[level] = contour
        self.runner = TaskRunner(pane)
        self.runner.result.connect(self._show)
        self.runner.error.connect(lambda error: self.pane._set_status(f"Effective field: {error}", error=True))
        self.clear()

    @property
    def busy(self) -> bool:
        return self.runner.busy

    def request(self, row: int, col: int) -> None:
        """Compute the effective field of the opened channel's unit (row, col) (in the worker)."""
        pane = self.pane
        capture, activation = pane.capture, pane.activation
        if capture is None or activation is None:
            return
        request = (capture.model, capture.weights_key, capture.image, activation.layer, row, col, pane.selected_channel)
        self._request = request
        self.clear(keep_request=True)
        self.runner.submit(explain_jobs.effective_field, *request)

    def clear(self, *, keep_request: bool = False) -> None:
        """Hide the field (another channel or position, another capture); the channel's overlay returns."""
        if not keep_request:
            self._request = None
            self.runner.cancel()
        self.field = None
        self.heat_item.setVisible(False)
        for contour in self.contours.values():
            contour.setVisible(False)
        self.pane.overlay_image.setVisible(True)
        self.pane.status.setToolTip("")

    def _show(self, field_: EffectiveField) -> None:
        request = (field_.model, field_.weights_key, field_.image, field_.layer, *field_.position, field_.channel)
        if self._request is None or request[3:] != self._request[3:]:
            return  # the user has moved on
        from explorer.core.explain import field_strength

        self.field = field_
        self.pane.overlay_image.setVisible(False)  # the channel's map would hide the gradient
        self.heat_item.setImage(field_strength(field_.gradient), autoLevels=False, levels=(0.0, 1.0))
        self.heat_item.setVisible(True)
        for share in field_.mass:
            contour = self.contours.get(share.level)
            if contour is None:
                continue
            # IsocurveItem reads data[x, y] with sample i at i; the image's pixel i spans [i, i + 1).
            contour.setData(np.ascontiguousarray(field_.gradient.T), level=share.threshold)
            contour.setPos(0.5, 0.5)
            contour.setVisible(True)
        self.pane._set_status(self.describe(field_), result=True)  # read, not skimmed: the text colour
        self.pane.status.setToolTip(self.formulas(field_))

    @staticmethod
    def describe(field_: EffectiveField) -> str:
        """``(7, 7) of layer2.0.conv1 (channel 12) sees rows 87–137, …; effective field: 50 % of the mass in 4.6 % …``."""
        top, left, bottom, right = field_.theoretical_box
        height, width = field_.box_size()
        unit = "all channels" if field_.channel is None else f"channel {field_.channel}"
        text = (
            f"({field_.position[0]}, {field_.position[1]}) of {field_.layer} ({unit}) sees input rows {top}–{bottom}, "
            f"columns {left}–{right} ({height}×{width} px, cyan); effective field: "
        )
        if not field_.mass:
            return text + "zero gradient. " + " ".join(field_.notes)
        shares = ", ".join(f"{share.level:.0%} of the mass in {share.fraction:.2%} of the box" for share in field_.mass)
        return text + shares + " (contours white, orange)"

    @staticmethod
    def formulas(field_: EffectiveField) -> str:
        """The arithmetic behind the fractions (the status line's tooltip)."""
        return "\n".join(share.formula for share in field_.mass) or "zero gradient"

"""The Edit section under the layer panel: the selected layer's hyperparameters as validated fields.

A field whose value does not work turns red with the reason beside it, as CNN Explainer's
playground does (a padding above K − 1, an output size that is not whole, a kernel larger than the
padded input, groups that do not divide the channels); the reasons come from
``explorer.core.edits.check_set``. Apply emits ``editRequested`` with an edit value; the session
applies it on a worker. The panel never analyses anything.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    from explorer.core.edits import Edit
    from explorer.core.stats import LayerStats, ModelSummary

_LABELS = {
    "out_channels": "out channels", "out_features": "out features", "kernel_size": "kernel", "stride": "stride",
    "padding": "padding", "dilation": "dilation", "groups": "groups", "bias": "bias", "p": "dropout p",
    "output_size": "output size",
}  # fmt: skip
_PAIRS = frozenset({"kernel_size", "stride", "padding", "dilation", "output_size"})
_RED = "#c92a2a"
_LIMIT = 65_536


def _axes(value: Any, rank: int) -> tuple[int, ...]:
    if isinstance(value, (tuple, list)):
        return tuple(int(v) for v in value)
    return (int(value),) * rank


class _Field(QWidget):
    """One setting: one spin box, a spin box per axis, a check box or a probability."""

    def __init__(self, name: str, value: Any, rank: int, on_change: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.boxes: list[QSpinBox | QDoubleSpinBox | QCheckBox] = []
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(4)
        if name == "bias":
            box = QCheckBox(self)
            box.setChecked(bool(value))
            box.toggled.connect(on_change)
            self.boxes.append(box)
            row.addWidget(box)
        elif name == "p":
            box = QDoubleSpinBox(self, decimals=2, minimum=0.0, maximum=1.0, singleStep=0.05)
            box.setValue(float(value))
            box.valueChanged.connect(on_change)
            self.boxes.append(box)
            row.addWidget(box)
        else:
            values = _axes(value, rank) if name in _PAIRS else (int(value),)
            for i, v in enumerate(values):
                if i:
                    row.addWidget(QLabel("×", self))
                box = QSpinBox(self, minimum=0 if name == "padding" else 1, maximum=_LIMIT)
                box.setMaximumWidth(72 if name in _PAIRS else 96)
                box.setValue(v)
                box.setAccelerated(True)
                box.valueChanged.connect(on_change)
                box.setObjectName(f"{name}_{i}")
                self.boxes.append(box)
                row.addWidget(box)
        row.addStretch(1)
        self._initial = self.value()

    def value(self) -> Any:
        if self.name == "bias":
            return self.boxes[0].isChecked()  # type: ignore[union-attr]
        if self.name == "p":
            return round(self.boxes[0].value(), 4)  # type: ignore[union-attr]
        values = tuple(box.value() for box in self.boxes)  # type: ignore[union-attr]
        return values if self.name in _PAIRS else values[0]

    @property
    def changed(self) -> bool:
        return self.value() != self._initial

    def set_value(self, value: Any) -> None:
        """For tests and the screenshot mode: as if typed."""
        if self.name == "bias":
            self.boxes[0].setChecked(bool(value))  # type: ignore[union-attr]
            return
        values = _axes(value, len(self.boxes)) if self.name in _PAIRS else (value,)
        for box, v in zip(self.boxes, values, strict=True):
            box.setValue(v)  # type: ignore[union-attr]

    def set_problem(self, problem: bool) -> None:
        style = f"border: 2px solid {_RED}; border-radius: 3px;" if problem else ""
        for box in self.boxes:
            box.setStyleSheet(style)


class EditPanel(QScrollArea):
    """Edit the selected layer. ``editRequested(edit)`` carries an ``explorer.core.edits`` value.

    In a scroll area, so the layer dock can give it little room without squeezing the layer panel.
    """

    editRequested = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        inner = QWidget(self)
        self.setWidget(inner)
        self.summary: ModelSummary | None = None
        self.row: LayerStats | None = None
        self.fields: dict[str, _Field] = {}
        self.problems: dict[str, str] = {}
        self._blocking = False

        self.title = QLabel("<b>Edit</b>", inner)
        self.hint = QLabel(inner, wordWrap=True)
        self.hint.setStyleSheet("color: palette(mid)")
        self.form_host = QWidget(inner)
        # One setting per line: the dock is narrow, and the Edit tab has the weights' height.
        self.form = QGridLayout(self.form_host)
        self.form.setContentsMargins(0, 0, 0, 0)
        self.form.setHorizontalSpacing(10)
        self.form.setVerticalSpacing(3)
        self.form.setColumnStretch(1, 1)
        self.message = QLabel(inner, wordWrap=True)
        self.message.setTextFormat(Qt.TextFormat.RichText)
        self.message.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)

        self.apply_button = QPushButton("Apply", inner)
        self.apply_button.setDefault(True)
        self.apply_button.clicked.connect(self.apply)
        self.reset_button = QPushButton("Reset", inner)
        self.reset_button.clicked.connect(lambda: self.show_layer(self.summary, self.row.name) if self.summary and self.row else None)
        self.remove_button = QPushButton("Remove", inner)
        self.remove_button.setToolTip("A module is bypassed, a branch leaves its cat, an add loses its shortcut")
        self.remove_button.clicked.connect(self.remove)
        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.addWidget(self.apply_button)
        buttons.addWidget(self.reset_button)
        buttons.addStretch(1)
        buttons.addWidget(self.remove_button)

        self.replace_field = QLineEdit(inner)
        self.replace_field.setPlaceholderText("Replace by… e.g. conv:out=64,k=3,p=1 + relu")
        self.replace_field.setClearButtonEnabled(True)
        self.replace_field.returnPressed.connect(self.replace)
        self.replace_button = QPushButton("Replace", inner)
        self.replace_button.clicked.connect(self.replace)
        replace_row = QHBoxLayout()
        replace_row.setContentsMargins(0, 0, 0, 0)
        replace_row.addWidget(self.replace_field, 1)
        replace_row.addWidget(self.replace_button)

        box = QVBoxLayout(inner)
        box.setContentsMargins(8, 6, 8, 6)
        box.setSpacing(4)
        box.addWidget(self.title)
        box.addWidget(self.hint)
        box.addWidget(self.form_host)
        box.addWidget(self.message)
        box.addLayout(buttons)
        box.addLayout(replace_row)
        box.addStretch(1)
        self.show_layer(None, None)

    # --- content ---

    def show_layer(self, summary: ModelSummary | None, name: str | None) -> None:
        """The fields of layer ``name`` in ``summary`` (the model as edited so far)."""
        self.summary = summary
        self.row = summary.layer(name) if summary is not None and name is not None and name in summary.graph else None
        self._clear_form()
        self.message.clear()
        row = self.row
        if row is None or row.kind == "input":
            self.title.setText("<b>Edit</b>")
            self.hint.setText("Select a layer to change its kernel, stride, padding, channels… and see every number change.")
            self.hint.show()
            self._enable(apply=False, remove=False, replace=False)
            return
        from explorer.core.edits import editable_fields

        module = summary.graph.module(row.node) if summary is not None else None
        names = editable_fields(module) if module is not None else ()
        self.title.setText(f"<b>Edit {html.escape(row.name)}</b> ({html.escape(row.type)})")
        settings = row.hyperparameters
        rank = max(len(row.output_shape) - 1, 1)
        order = [n for n in ("out_channels", "out_features", "groups", "kernel_size", "stride", "padding", "dilation") if n in names]
        order += [n for n in names if n not in order]
        for field_name in order:
            value = settings.get(field_name, getattr(module, field_name, None))
            if field_name == "bias":
                value = getattr(module, "bias", None) is not None
            if value is None:
                continue
            editor = _Field(field_name, value, rank, self._changed, self.form_host)
            position = len(self.fields)
            self.fields[field_name] = editor
            self.form.addWidget(QLabel(_LABELS.get(field_name, field_name), self.form_host), position, 0)
            self.form.addWidget(editor, position, 1)
        if not self.fields:
            self.hint.setText(
                "A functional op: remove it (an add loses its shortcut), or select a module."
                if row.node.module_path is None
                else "No settings to edit one by one: remove it, or replace it by other layers."
            )
            self.hint.show()
        else:
            self.hint.hide()
        self._enable(apply=False, remove=True, replace=row.node.module_path is not None)
        self._changed()

    def _clear_form(self) -> None:
        while self.form.count():
            widget = self.form.takeAt(0).widget()
            if widget is not None:
                widget.hide()  # now: deleteLater waits for the event loop, and the old fields would show
                widget.deleteLater()
        self.fields = {}
        self.problems = {}

    def _enable(self, *, apply: bool, remove: bool, replace: bool) -> None:
        self.apply_button.setEnabled(apply)
        self.reset_button.setEnabled(apply)
        self.remove_button.setEnabled(remove)
        self.replace_field.setEnabled(replace)
        self.replace_button.setEnabled(replace)

    def changes(self) -> dict[str, Any]:
        return {name: field.value() for name, field in self.fields.items() if field.changed}

    def _changed(self, *_: object) -> None:
        """Validate on every keystroke (pure arithmetic in the core; nothing is analysed)."""
        if self.row is None:
            return
        from explorer.core.edits import check_set

        changes = self.changes()
        problems = check_set(self.row, changes) if self.fields else ()
        self.problems = {}
        for problem in problems:
            self.problems.setdefault(problem.field, problem.message)
        self._blocking = any(p.blocking for p in problems)
        for name, field in self.fields.items():
            field.set_problem(name in self.problems)
        if problems:
            lines = [f"<span style='color:{_RED}'>{html.escape(_LABELS.get(p.field, p.field))}: {html.escape(p.message)}</span>" for p in problems]
            if not self._blocking:
                lines.append("<i>It still applies: the real network does this too.</i>" if not changes else "<i>It still applies.</i>")
            self.message.setText("<br>".join(lines))
        else:
            self.message.clear()
        self.apply_button.setEnabled(bool(changes) and not self._blocking)
        self.reset_button.setEnabled(bool(changes))

    def show_error(self, text: str) -> None:
        """The session could not apply an edit: say why (the views keep the last result that worked)."""
        self.message.setText(f"<span style='color:{_RED}'><b>Not applied:</b> {html.escape(text).replace(chr(10), '<br>')}</span>")

    # --- actions ---

    def apply(self) -> Edit | None:
        if self.row is None or self._blocking:
            return None
        changes = self.changes()
        if not changes:
            return None
        from explorer.core.edits import SetLayer

        edit = SetLayer(self.row.node.module_path or self.row.name, changes)
        self.editRequested.emit(edit)
        return edit

    def remove(self) -> Edit | None:
        if self.row is None:
            return None
        from explorer.core.edits import RemoveLayer

        edit = RemoveLayer(self.row.name if self.row.node.call_index > 1 or self.row.node.module_path is None else self.row.node.module_path)
        self.editRequested.emit(edit)
        return edit

    def replace(self) -> Edit | None:
        if self.row is None or self.row.node.module_path is None or not self.replace_field.text().strip():
            return None
        from explorer.core.edits import ReplaceLayer, parse_layer_specs
        from explorer.core.errors import ExplorerError

        try:
            specs = parse_layer_specs(self.replace_field.text())
        except ExplorerError as error:
            self.show_error(str(error))
            return None
        edit = ReplaceLayer(self.row.node.module_path, specs)
        self.editRequested.emit(edit)
        return edit

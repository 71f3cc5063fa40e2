"""QApplication bootstrap, the exception hook, and ``--screenshot`` mode."""

from __future__ import annotations

import os
import sys
import tempfile
import traceback
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType

ORGANISATION, APPLICATION = "cnn-explorer", "cnn-explorer"


@dataclass(frozen=True)
class GuiOptions:
    model: str | None = None
    input_shape: str | None = None
    mode: str = "eval"
    view: str = "graph"
    compare: str | None = None
    select: str | None = None
    expand: str | None = None  # "all" or comma-separated module paths
    images: tuple[str, ...] = ()  # for --view classify
    lesson: str | None = None  # --view whatif: open this lesson's experiment
    edits: tuple[str, ...] = ()  # --view whatif: LAYER.FIELD=VALUE, typed into the Edit panel and applied
    edit_file: Path | None = None  # --view whatif: an edit file to open
    convention: str | None = None  # the counting convention (default: the saved one, else the lecture's)
    method: str | None = None  # --view explain: "gradcam" or "gradcam,guided" (one pane each)
    at: tuple[int, int] | None = None  # --view features: click this position of the strongest channel
    screenshot: Path | None = None
    size: tuple[int, int] = (1600, 1000)
    graph_layout: str | None = None  # "top-down" or "left-right" (else the remembered one)


def _install_excepthook() -> None:
    """An unexpected error in a slot is logged and shown; the window keeps running."""

    def hook(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
        traceback.print_exception(kind, error, tb, file=sys.stderr)
        from PySide6.QtWidgets import QApplication

        for widget in QApplication.topLevelWidgets():
            if hasattr(widget, "statusBar"):
                widget.statusBar().showMessage(f"Unexpected error: {error} (details on the console)", 10_000)

    sys.excepthook = hook


def _application() -> object:
    from PySide6.QtCore import QCoreApplication
    from PySide6.QtWidgets import QApplication

    QCoreApplication.setOrganizationName(ORGANISATION)
    QCoreApplication.setApplicationName(APPLICATION)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setStyle("Fusion")  # the same look everywhere; follows the system's light/dark palette
    return app


def run(options: GuiOptions) -> int:
    if options.screenshot is not None and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    app = _application()
    _install_excepthook()
    from PySide6.QtCore import QSettings

    from explorer.gui.main_window import MainWindow

    if options.screenshot is not None:
        # A screenshot neither reads nor writes the user's saved layout.
        settings = QSettings(str(Path(tempfile.mkdtemp()) / "screenshot.ini"), QSettings.Format.IniFormat)
        return _screenshot(MainWindow(settings), options)
    window = MainWindow()
    _apply_graph_layout(window, options)
    if options.convention:
        window.set_convention(options.convention)
    if options.model:
        window._request = (options.model, options.input_shape, options.mode)
    window.show()
    return app.exec()


def _apply_graph_layout(window: object, options: GuiOptions) -> None:
    if options.graph_layout is not None:
        window.left_right_action.setChecked(options.graph_layout == "left-right")  # type: ignore[attr-defined]


def _sample_images() -> list[Path]:
    from explorer.gui.jobs import SAMPLE_IMAGES

    return sorted(SAMPLE_IMAGES.iterdir())


def _features_screenshot(window: object, options: GuiOptions) -> str | None:
    """--view features: pane 1 shows --model at --select, pane 2 --compare (at --select too if it has it)."""
    from explorer.core.features import UnknownLayerError, select_layer

    summary = window.summary  # type: ignore[attr-defined]
    if options.select:
        try:
            select_layer(summary, options.select)
        except UnknownLayerError as error:
            return str(error).splitlines()[0]
    if options.images:
        window.features.set_image(options.images[0])  # type: ignore[attr-defined]
    if options.select and (options.select in summary.graph or summary.block(options.select)[0]):
        window.select(options.select)  # type: ignore[attr-defined]
    window.send_to_features(0, options.select)  # type: ignore[attr-defined]
    if not options.compare:
        for pane in window.features.panes[1:]:  # type: ignore[attr-defined]
            window.features.remove_pane(pane)  # type: ignore[attr-defined]
    else:
        from explorer.core.analysis import analyze

        other = analyze(options.compare)
        select = options.select
        if select and select not in other.graph and branch_layers(other, select) is None:
            select = None
        window.features.panes[1].set_model(options.compare, select)  # type: ignore[attr-defined]
    return None


def _whatif_screenshot(window: object, options: GuiOptions) -> str | None:
    """--view whatif: a lesson, an edit file, then each --edit typed into the Edit panel and applied."""
    from explorer.core.edits import parse_set
    from explorer.core.errors import ExplorerError

    feature = window.whatif  # type: ignore[attr-defined]
    if options.lesson:
        feature.open_lesson(options.lesson)
        if not window.wait_idle(300_000) or not window.wait_idle():  # type: ignore[attr-defined]
            return "the lesson did not finish in time"
        if feature.session.lesson is None:
            return feature.view.status.text() or f"the lesson {options.lesson} could not run"
    if options.edit_file:
        feature.open_edits(str(options.edit_file))
        window.wait_idle()  # type: ignore[attr-defined]
        window.wait_idle()  # type: ignore[attr-defined]
    grouped: list[tuple[str, dict[str, object], str]] = []  # consecutive --edit of one layer: one Apply
    for text in options.edits:
        try:
            edit = parse_set(text)
        except ExplorerError as error:
            return str(error)
        if grouped and grouped[-1][0] == edit.layer:
            grouped[-1][1].update(edit.values)
        else:
            grouped.append((edit.layer, dict(edit.values), text))
    for layer, values, text in grouped:
        window.select(layer)  # type: ignore[attr-defined]
        panel = feature.edit_panel
        for name, value in values.items():
            if name not in panel.fields:
                return f"{layer} has no field {name!r} in the Edit panel"
            panel.fields[name].set_value(value)
        if panel.apply() is None:
            return f"the Edit panel would not apply {text}: {panel.message.text()}"
        window.wait_idle()  # type: ignore[attr-defined]
        if feature.session.result is None or layer not in {d.name for d in feature.session.result.diff.changed}:
            return f"{text} was not applied: {feature.view.status.text()}"
    window.show_view("whatif")  # type: ignore[attr-defined]
    if options.select:
        feature._view_selected(options.select)
        feature.view.select(options.select)
    return None


def _explain_screenshot(window: object, options: GuiOptions) -> str | None:
    """Issue 14, --view explain: --model on --image (default the cat), one pane per --method, a pane
    for --compare; --select is the layer."""
    methods = [m.strip() for m in (options.method or "gradcam").split(",") if m.strip()]
    from explorer.gui.widgets.explain_view import METHOD_TITLES

    unknown = [m for m in methods if m not in dict(METHOD_TITLES)]
    if unknown:
        return f"unknown method {unknown[0]!r}: use {', '.join(dict(METHOD_TITLES))}"
    view = window.explain_view  # type: ignore[attr-defined]
    image = options.images[0] if options.images else str(_sample_images()[0].parent / "cat-chelsea.png")
    model = window.summary.model  # type: ignore[attr-defined]
    first = view.panes[0]
    first.method_box.blockSignals(True)
    first.set_method(methods[0])
    first.method_box.blockSignals(False)
    window.explain_photo(image, model)  # type: ignore[attr-defined]
    if not window.wait_idle(300_000):  # type: ignore[attr-defined]
        return "the explanation did not finish in time"
    if options.select:
        first.set_layer(options.select)
    for method in methods[1:]:
        view.add_pane(model, method)
    if options.compare:
        view.add_pane(options.compare, methods[0])
    return None


def _screenshot(window: object, options: GuiOptions) -> int:
    from explorer.gui.main_window import MainWindow

    assert isinstance(window, MainWindow)
    window._request = (options.model or "resnet18", options.input_shape, options.mode)
    _apply_graph_layout(window, options)
    if options.convention:
        window.set_convention(options.convention)
    window.resize(*options.size)
    window.show()
    if not window.wait_idle():
        print("cnn-explorer: error: the analysis did not finish in time", file=sys.stderr)
        return 1
    if window.summary is None:
        message = window.catalogue.message.text() or "the model could not be analysed"
        print(f"cnn-explorer: error: {message}", file=sys.stderr)
        return 2
    if options.expand == "all":
        window.graph_view.expand_all()
    elif options.expand:
        for path in (p.strip() for p in options.expand.split(",")):
            if path:
                window.graph_view.expand(window.graph_view.group_path(path) or path)
    if options.view == "classify":
        window.show_view("classify")
        window.classifier.add_images(list(options.images) or [str(p) for p in _sample_images()])
        if not window.wait_idle(300_000):
            print("cnn-explorer: error: classification did not finish in time", file=sys.stderr)
            return 1
    elif options.view == "explain":
        problem = _explain_screenshot(window, options)
        if problem:
            print(f"cnn-explorer: error: {problem}", file=sys.stderr)
            return 2
        if not window.wait_idle(300_000):
            print("cnn-explorer: error: the explanations did not finish in time", file=sys.stderr)
            return 1
        errors = [pane.error for pane in window.explain_view.panes if pane.error]
        if errors:
            print(f"cnn-explorer: error: {errors[0]}", file=sys.stderr)
            return 2
        options = replace(options, select=None, compare=None)
    elif options.view == "features":
        problem = _features_screenshot(window, options)
        if problem:
            print(f"cnn-explorer: error: {problem}", file=sys.stderr)
            return 2
        if not window.wait_idle(300_000):
            print("cnn-explorer: error: the feature maps did not finish in time", file=sys.stderr)
            return 1
        errors = [pane.error for pane in window.features.panes if pane.error]
        if errors:
            print(f"cnn-explorer: error: {errors[0]}", file=sys.stderr)
            return 2
        if options.at is not None:  # issue 14: the strongest channel, a position, its effective field
            pane = window.features.panes[0]
            if pane.activation is None or pane.activation.values.ndim != 3:
                print("cnn-explorer: error: --at needs a layer with a spatial map", file=sys.stderr)
                return 2
            pane.open_channel(pane.activation.order_by_strength()[0])
            if pane.select_position(*options.at) is None:
                print(f"cnn-explorer: error: --at {options.at} is outside the layer's map", file=sys.stderr)
                return 2
            if not window.wait_idle(300_000) or pane.error:
                print(f"cnn-explorer: error: {pane.error or 'the effective field did not finish in time'}", file=sys.stderr)
                return 2
        options = replace(options, select=None)  # the panes show it; the graph keeps its view
    elif options.view == "whatif":
        problem = _whatif_screenshot(window, options)
        if problem:
            print(f"cnn-explorer: error: {problem}", file=sys.stderr)
            return 2
        options = replace(options, select=None)  # selected in the What-if view already
    elif options.compare or options.view == "compare":
        window.show_view("compare")
        window.compare_models(window.summary.model, options.compare or "resnet18")
        window.wait_idle()
    else:
        window.show_view(options.view)
    if options.select:
        select = window.graph_view.group_path(options.select) or options.select
        if select not in window.summary.graph and not window.summary.block(select)[0]:
            print(f"cnn-explorer: error: no layer or block named {options.select!r}", file=sys.stderr)
            return 2
        window.select(select)
    window.wait_idle()
    from PySide6.QtWidgets import QApplication

    for _ in range(3):
        QApplication.processEvents()  # the docks settle: the graph's viewport has its final size
    if options.select is None and options.view == "graph":
        if options.expand in (None, "all"):
            window.graph_view.fit()
        else:  # the last block expanded, whole in view
            last = [p.strip() for p in options.expand.split(",") if p.strip()][-1]
            window.graph_view.show_group(window.graph_view.group_path(last) or last)
        QApplication.processEvents()
    image = window.grab()
    options.screenshot.parent.mkdir(parents=True, exist_ok=True)
    if not image.save(str(options.screenshot)):
        print(f"cnn-explorer: error: cannot write {options.screenshot}", file=sys.stderr)
        return 2
    print(options.screenshot)
    return 0

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
    screenshot: Path | None = None
    size: tuple[int, int] = (1600, 1000)


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
    if options.model:
        window._request = (options.model, options.input_shape, options.mode)
    window.show()
    return app.exec()


def _sample_images() -> list[Path]:
    from explorer.core.samples import sample_images

    return sample_images()


def _features_screenshot(window: object, options: GuiOptions) -> str | None:
    """--view features: pane 1 shows --model at --select, pane 2 --compare (at --select too if it has it)."""
    from explorer.core.features import branch_layers

    summary = window.summary  # type: ignore[attr-defined]
    if options.select and options.select not in summary.graph and branch_layers(summary, options.select) is None:
        return f"{summary.model} has no layer, Inception module or residual block named {options.select!r}"
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


def _screenshot(window: object, options: GuiOptions) -> int:
    from explorer.gui.main_window import MainWindow

    assert isinstance(window, MainWindow)
    window._request = (options.model or "resnet18", options.input_shape, options.mode)
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
                window.graph_view.expand(path)
    if options.view == "classify":
        window.show_view("classify")
        window.classifier.add_images(list(options.images) or [str(p) for p in _sample_images()])
        if not window.wait_idle(300_000):
            print("cnn-explorer: error: classification did not finish in time", file=sys.stderr)
            return 1
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
        options = replace(options, select=None)  # the panes show it; the graph keeps its view
    elif options.compare or options.view == "compare":
        window.show_view("compare")
        window.compare_models(window.summary.model, options.compare or "resnet18")
        window.wait_idle()
    else:
        window.show_view(options.view)
    if options.select:
        if options.select not in window.summary.graph and not window.summary.block(options.select)[0]:
            print(f"cnn-explorer: error: no layer or block named {options.select!r}", file=sys.stderr)
            return 2
        window.select(options.select)
    window.wait_idle()
    if options.select is None and options.view == "graph":
        window.graph_view.fit()
    from PySide6.QtWidgets import QApplication

    for _ in range(3):
        QApplication.processEvents()
    image = window.grab()
    options.screenshot.parent.mkdir(parents=True, exist_ok=True)
    if not image.save(str(options.screenshot)):
        print(f"cnn-explorer: error: cannot write {options.screenshot}", file=sys.stderr)
        return 2
    print(options.screenshot)
    return 0

"""The whole window (issue 13): one drop target on every page, views that read well at every size,
nothing stale after a model switch, and no stray top-level window."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDragLeaveEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QDockWidget, QWidget

ROOT = Path(__file__).resolve().parents[2]
CAT = ROOT / "resources" / "images" / "cat-chelsea.png"
pytestmark = pytest.mark.qt_log_ignore(r"This plugin does not support (propagateSizeHints|raise)\(\)")


def _file_mime(path: Path) -> QMimeData:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    return mime


def _drag_over(window, widget: QWidget, mime: QMimeData) -> QPoint:
    """A drag entering the window's QWindow over ``widget``, as the platform delivers it."""
    point = widget.mapTo(window, widget.rect().center())
    enter = QDragEnterEvent(point, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window.windowHandle(), enter)
    assert enter.isAccepted(), "the window takes the drag"
    return point


def _drop(window, point: QPoint, mime: QMimeData) -> None:
    event = QDropEvent(QPointF(point), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window.windowHandle(), event)
    assert event.isAccepted()


@pytest.mark.parametrize(
    ("view", "says"),
    [
        ("graph", "Drop to classify"), ("charts", "Drop to classify"), ("compare", "Drop to classify"),
        ("reconcile", "Drop to classify"), ("whatif", "Drop to classify"), ("lessons", "Drop to classify"),
        ("classify", "Drop to classify"), ("features", "Drop to show feature maps"), ("explain", "Drop to explain"),
    ],
)  # fmt: skip
def test_a_drop_on_every_page_reaches_its_target(window, qtbot, view: str, says: str) -> None:
    window.show_view(view)
    assert window.current_view() == view
    page = window.tabs.currentWidget()
    part = page.currentWidget() if hasattr(page, "currentWidget") else page
    target = part.viewport() if hasattr(part, "viewport") else part  # the graph's viewport took drops itself
    mime = _file_mime(CAT)
    point = _drag_over(window, target, mime)
    overlay = window.drop_overlay
    assert overlay.isVisible() and overlay.text == says
    assert overlay.geometry() == window.rect()  # over the whole window, docks too
    _drop(window, point, mime)
    assert not overlay.isVisible()
    if view == "features":
        assert window.current_view() == "features" and window.features.image_path == str(CAT)
        assert all(pane.image_path == str(CAT) for pane in window.features.panes)
    elif view == "explain":
        assert window.current_view() == "explain" and window.explain_view.image_path == str(CAT)
        assert window.explain_view.panes[0].model() == window.summary.model  # nothing explained before: the open model
    else:
        assert window.current_view() == "classify"
        assert window.classifier.paths == [str(CAT)]
    window.classifier.cancel()
    window.features.cancel()
    window.explain_view.cancel()


def test_a_drag_that_leaves_hides_the_overlay_and_text_drags_are_left_to_qt(window, qtbot) -> None:
    mime = _file_mime(CAT)
    _drag_over(window, window.graph_view.viewport(), mime)
    assert window.drop_overlay.isVisible()
    QApplication.sendEvent(window.windowHandle(), QDragLeaveEvent())
    assert not window.drop_overlay.isVisible()
    text = QMimeData()
    text.setText("conv1")  # a text drag (into the filter field, say) is not a photo
    point = window.table.mapTo(window, window.table.rect().center())
    enter = QDragEnterEvent(point, Qt.DropAction.CopyAction, text, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window.windowHandle(), enter)
    assert not window.drop_overlay.isVisible()
    assert window.classifier.paths == []


def test_a_model_switch_leaves_nothing_of_the_previous_model(window, qtbot) -> None:
    window.select("conv1")
    assert window.wait_idle(120_000)
    weights = window.weights_view
    assert weights.weights is not None and weights.weights.model == "resnet18"
    window.open_model("alexnet")
    assert window.wait_idle(120_000)
    assert window.summary.model == "alexnet" and window.selected is None
    assert weights.weights is None and "resnet18" not in weights.title.text() and "conv1" not in weights.title.text()
    assert "conv1" not in window.panel.toPlainText()
    assert window.whatif.edit_panel.row is None
    assert window.table.summary is window.summary and window.charts.summary is window.summary
    window.show_view("compare")  # A is the open model
    assert window.wait_idle(120_000)
    first, second = window.compare.summaries()
    assert first.model == "alexnet" and second.model != "alexnet"
    window.open_model("vgg11")  # on screen: compared again at once
    assert window.wait_idle(120_000)
    assert window.compare.summaries()[0].model == "vgg11"
    assert window.compare.current_models()[0] == "vgg11"


# --- every view at every size ----------------------------------------------------------------------

SIZES = ((1600, 1000), (1280, 800), (1024, 700))


def _in_scrolled_content(widget: QWidget, window: QWidget) -> bool:
    """Inside a scroll area's viewport: larger than its frame by design (it scrolls)."""
    from PySide6.QtWidgets import QAbstractScrollArea

    parent = widget.parentWidget()
    while parent is not None and parent is not window:
        owner = parent.parentWidget()
        if isinstance(owner, QAbstractScrollArea) and parent is owner.viewport():
            return True
        parent = owner
    return False


def _misfits(window) -> list[str]:
    """Every visible widget outside the window (scrolled content aside), every dock or dock content
    squeezed below its minimum, every other visible top-level window."""
    problems = []
    frame = window.rect()
    for widget in window.findChildren(QWidget):
        if not widget.isVisible() or widget.window() is not window or _in_scrolled_content(widget, window):
            continue
        rect = widget.rect().translated(widget.mapTo(window, QPoint(0, 0)))
        if not frame.contains(rect):
            problems.append(f"{type(widget).__name__} {widget.objectName()!r} at {rect.getRect()} is outside {frame.getRect()}")
    for dock in window.findChildren(QDockWidget):
        if dock.isVisible():
            content = dock.widget()
            for what, widget in (("dock", dock), ("its content", content)):
                minimum = max(widget.minimumSizeHint().width(), widget.minimumWidth())
                if widget.width() < minimum:
                    problems.append(f"{dock.objectName()}: {what} is {widget.width()} px wide, its minimum {minimum}")
    others = [w for w in QApplication.topLevelWidgets() if w.isVisible() and w is not window and not w.inherits("QMenu")]
    problems += [f"another top-level window: {type(w).__name__} {w.windowTitle()!r} {w.size().toTuple()}" for w in others]
    return problems


def test_every_view_fits_the_window_at_every_size(window, qtbot, tmp_path: Path) -> None:
    from explorer.gui.main_window import VIEWS

    window.classifier.add_images([str(CAT)])  # every view with its content, not empty
    window.send_to_features(0, "layer1.0")
    window.explain_photo(str(CAT), window.summary.model)
    assert window.wait_idle(300_000)
    for width, height in SIZES:
        window.resize(width, height)
        for view in VIEWS:
            window.show_view(view)
            if view == "graph":
                window.select("layer1.0.conv1" if window.selected != "layer1.0.conv1" else "conv1")  # a layer's panel and weights
            assert window.wait_idle(120_000)
            for _ in range(3):
                QApplication.processEvents()
            assert window.size().toTuple() == (width, height), f"{view} at {width}×{height} resized the window"
            assert _misfits(window) == [], f"{view} at {width}×{height}"
            shot = window.grab()
            assert shot.size().toTuple() == (width, height)
            image = shot.toImage()
            colours = {image.pixel(x, y) for x in range(0, width, 23) for y in range(0, height, 23)}
            assert len(colours) > 8, f"{view} at {width}×{height} is blank"
    window.reset_layout()  # View → Reset layout at the smallest size: still every dock at its minimum or more
    QApplication.processEvents()
    assert _misfits(window) == []


def test_the_table_grows_on_request_and_goes_back(window, qtbot) -> None:
    dock = window.table_dock
    first = dock.height()
    window.show_table(tall=True)
    QApplication.processEvents()
    assert dock.height() > window.height() // 2
    window.show_table(tall=True)  # Ctrl+2 once more: back
    QApplication.processEvents()
    assert dock.height() < window.height() // 2 and abs(dock.height() - first) < 40
    dock.hide()
    window.show_view("table")  # hidden: shown at its first height, not taller
    QApplication.processEvents()
    assert dock.isVisible() and dock.height() < window.height() // 2


def test_reset_layout_brings_back_every_dock(window, qtbot) -> None:
    window.catalogue_dock.hide()
    window.table_dock.setFloating(True)
    window.resizeDocks([window.panel_dock], [700], Qt.Orientation.Horizontal)
    window.reset_layout()
    QApplication.processEvents()
    for dock in (window.catalogue_dock, window.panel_dock, window.table_dock):
        assert dock.isVisible() and not dock.isFloating()
    assert window.panel_dock.width() < 700
    assert window.dockWidgetArea(window.table_dock) == Qt.DockWidgetArea.BottomDockWidgetArea


def test_a_saved_layout_is_restored_only_when_it_fits_the_screen(qtbot, settings) -> None:
    from explorer.gui.main_window import MainWindow

    def closed_after(width: int, height: int) -> None:
        window = MainWindow(settings)
        qtbot.addWidget(window)
        window.resize(width, height)
        window.catalogue_dock.hide()  # the saved layout: no Models panel
        window.close()

    screen = QApplication.primaryScreen().availableGeometry()
    closed_after(screen.width() - 100, screen.height() - 100)
    fitting = MainWindow(settings)
    qtbot.addWidget(fitting)
    assert fitting.catalogue_dock.isHidden()  # restored as it was left
    fitting.close()
    closed_after(screen.width() + 400, screen.height() + 300)  # left on a larger screen
    larger = MainWindow(settings)
    qtbot.addWidget(larger)
    assert not larger.catalogue_dock.isHidden()  # the default layout instead, sized to fit
    assert larger.width() <= screen.width() and larger.height() <= screen.height()
    larger.close()


def test_the_view_menu_and_the_views_bar_agree(window, qtbot) -> None:
    from explorer.gui.main_window import VIEW_ENTRIES

    view_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&View")
    shortcuts = {a.text(): a.shortcut().toString() for a in view_menu.actions()}
    for i, (view, label, _button) in enumerate(VIEW_ENTRIES):
        assert shortcuts[label] == (f"Ctrl+{i + 1}" if i < 9 else "")
    assert [a.text() for a in window.views_toolbar.actions()] == [b for _v, _l, b in VIEW_ENTRIES if b]
    for view, _label, _button in VIEW_ENTRIES:
        if view == "table":
            continue
        window.show_view(view)
        assert window.current_view() == view
        owner = {"lessons": "whatif", "reconcile": "compare"}.get(view, view)
        assert [name for name, b in window.view_buttons.items() if b.isChecked()] == [owner]
    window.view_buttons["charts"].trigger()  # a click on the bar
    assert window.current_view() == "charts"
    assert window.views_toolbar.minimumSizeHint().width() + window.views_toolbar.sizeHint().width() > 0
    assert sum(w.sizeHint().width() for w in window.views_toolbar.findChildren(QWidget) if w.isVisible()) < 1024


def test_features_screenshot_with_a_second_model_that_lacks_the_layer(window, qtbot) -> None:
    from explorer.gui.app import GuiOptions, _features_screenshot

    options = GuiOptions(model="resnet18", view="features", select="conv1", compare="vgg16")
    assert _features_screenshot(window, options) is None
    assert window.wait_idle(300_000)
    first, second = window.features.panes[:2]
    assert (first.model(), first.layer()) == ("resnet18", "conv1")
    assert second.model() == "vgg16" and second.layer() != "conv1" and second.error is None


def test_a_second_classifier_model_squeezes_nothing(window, qtbot) -> None:
    window.resize(1280, 800)
    window.show_view("classify")
    window.classifier.add_model_column("resnet18")
    window.classifier.add_model_column("vgg11")
    assert window.wait_idle(120_000)
    for _ in range(3):
        QApplication.processEvents()
    assert window.size().toTuple() == (1280, 800)
    assert _misfits(window) == []
    assert window.catalogue_dock.width() >= 200  # the Models panel keeps its width

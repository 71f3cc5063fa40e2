"""The layer-graph view and its Qt-free layout, on real analyses from the core (offscreen Qt)."""

from __future__ import annotations

import functools
import itertools

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QImage, QPalette, QWheelEvent
from PySide6.QtWidgets import QApplication, QLineEdit

from explorer.core import analyze
from explorer.core.stats import ModelSummary
from explorer.gui.widgets.graph_view import GraphView
from explorer.gui.widgets.graph_view.items import EdgeItem, FrameItem, NodeItem
from explorer.gui.widgets.graph_view.layout import (
    NODE_HEIGHT,
    NODE_WIDTH,
    Layout,
    compute_layout,
    default_collapsed,
    visible_graph,
)


@functools.cache
def summary(name: str) -> ModelSummary:
    return analyze(name)


@pytest.fixture
def view(qtbot) -> GraphView:
    view = GraphView()
    qtbot.addWidget(view)
    view.resize(1200, 800)
    view.show()
    qtbot.waitExposed(view)
    return view


def _inception_branches(layout: Layout, module: str) -> list[list[str]]:
    return [sorted(n for n in layout.positions if n.startswith(f"{module}.branch{i}.")) for i in range(1, 5)]


def _click_point(view: GraphView, name: str) -> QPoint:
    item = view.node_item(name)
    assert item is not None
    return view.mapFromScene(item.scenePos())


# --- layout.py: no Qt ----------------------------------------------------------------------


def test_folding_a_module_remaps_its_edges():
    graph = summary("resnet18").graph
    visible = visible_graph(graph, {"layer1.0"})
    block = visible.node("layer1.0")
    assert block.is_block and block.label == "layer1.0 · BasicBlock"
    assert set(block.members) == {n.name for n in graph.nodes_under("layer1.0")}
    assert len(visible) == len(graph) - len(block.members) + 1
    assert visible.predecessors("layer1.0") == ("maxpool",)
    assert set(visible.successors("layer1.0")) == {"layer1.1.conv1", "layer1.1.add"}
    assert all(e.source != e.target for e in visible.edges)
    assert len({(e.source, e.target) for e in visible.edges}) == len(visible.edges)
    assert visible.owner["layer1.0.bn2"] == "layer1.0"
    assert block.output_shape == graph.node("layer1.0.relu:2").output_shape


@pytest.mark.parametrize("model", ["alexnet", "vgg16", "lenet5", "resnet18", "alexnet_2gpu"])
def test_small_networks_open_expanded(model):
    assert default_collapsed(summary(model).graph) == frozenset()


def test_deep_networks_open_with_their_building_blocks_folded():
    resnet = summary("resnet152").graph
    assert default_collapsed(resnet) == {f"layer{s}.{b}" for s, n in zip((1, 2, 3, 4), (3, 8, 36, 3)) for b in range(n)}
    googlenet = visible_graph(summary("googlenet").graph, default_collapsed(summary("googlenet").graph))
    assert sorted(n.name for n in googlenet.blocks if n.op == "Inception") == [
        f"inception{x}" for x in ("3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b")
    ]
    assert len(googlenet) <= 150 and len(visible_graph(resnet, default_collapsed(resnet))) <= 150


@pytest.mark.parametrize("model", ["googlenet", "resnet50", "alexnet_2gpu", "efficientnet_b0"])
def test_no_two_nodes_overlap(model):
    layout = compute_layout(visible_graph(summary(model).graph))
    points = list(layout.positions.values())
    for (x1, y1), (x2, y2) in itertools.combinations(points, 2):
        assert abs(x1 - x2) >= NODE_WIDTH or abs(y1 - y2) >= NODE_HEIGHT


def test_inception_branches_stand_side_by_side_between_split_and_cat():
    graph = summary("googlenet").graph
    collapsed = default_collapsed(graph) - {"inception3a"}
    layout = compute_layout(visible_graph(graph, collapsed))
    branches = _inception_branches(layout, "inception3a")
    xs = [{layout.positions[n][0] for n in branch} for branch in branches]
    assert all(len(x) == 1 for x in xs), "each branch is one straight column"
    assert len(set().union(*xs)) == 4
    spans = [(min(layout.positions[n][1] for n in b), max(layout.positions[n][1] for n in b)) for b in branches]
    assert max(top for top, _ in spans) < min(bottom for _, bottom in spans)  # they overlap vertically
    split, cat = layout.positions["maxpool2"][1], layout.positions["inception3a.cat"][1]
    assert all(split < top and bottom < cat for top, bottom in spans)


def test_residual_shortcuts_are_marked():
    layout = compute_layout(visible_graph(summary("resnet18").graph))
    shortcuts = {(e.source, e.target) for e in layout.shortcuts}
    assert len(shortcuts) == 8
    assert ("maxpool", "layer1.0.add") in shortcuts  # identity: the block input
    assert ("layer2.0.downsample.1", "layer2.0.add") in shortcuts  # projection
    assert not any(e.shortcut for e in layout.edges if e.target.endswith(".conv1"))
    # The identity shortcut runs in a lane beside its block, not through it.
    block_right = max(layout.positions[n.name][0] for n in summary("resnet18").graph.nodes_under("layer1.0")) + NODE_WIDTH / 2
    lane = next(e for e in layout.shortcuts if e.target == "layer1.0.add").points[1][0]
    assert lane > block_right
    assert len(compute_layout(visible_graph(summary("resnet50").graph)).shortcuts) == 16


def test_concatenations_are_not_shortcuts():
    assert not compute_layout(visible_graph(summary("googlenet").graph)).shortcuts


def test_alexnet_2gpu_towers_are_two_lanes():
    layout = compute_layout(visible_graph(summary("alexnet_2gpu").graph))
    for conv in ("conv1", "conv2", "conv3", "conv4", "conv5"):
        (x0, y0), (x1, y1) = layout.positions[f"tower0.{conv}"], layout.positions[f"tower1.{conv}"]
        assert x0 != x1 and y0 == y1
    lanes = {layout.positions[f"tower{t}.{c}"][0] for t in (0, 1) for c in ("conv1", "pool2", "conv3", "pool5")}
    assert len(lanes) == 2
    assert {f.title for f in layout.frames} == {"tower0", "tower1"}  # one frame per tower segment
    assert len(layout.frames) == 4


def test_folding_a_module_called_in_two_pieces_makes_a_drawable_cycle():
    visible = visible_graph(summary("alexnet_2gpu").graph, {"tower0"})
    assert "cat" in visible.successors("tower0") and "tower0" in visible.successors("cat")
    layout = compute_layout(visible)
    assert {(e.source, e.target) for e in layout.edges} == {(e.source, e.target) for e in visible.edges}


def test_long_edges_bend_through_dummy_points():
    layout = compute_layout(visible_graph(summary("googlenet").graph, default_collapsed(summary("googlenet").graph) - {"inception3a"}))
    route = next(e for e in layout.edges if e.source == "inception3a.branch1.relu")
    assert route.target == "inception3a.cat" and len(route.points) > 2


# --- the view ------------------------------------------------------------------------------


def test_set_summary_fills_the_scene(view):
    view.set_summary(summary("resnet18"))
    items = view.scene().items()
    assert sum(isinstance(i, NodeItem) for i in items) == len(summary("resnet18").graph) == 70
    assert sum(isinstance(i, EdgeItem) for i in items) == len(summary("resnet18").graph.edges)
    assert sum(isinstance(i, EdgeItem) and i.route.shortcut for i in items) == 8
    view.set_summary(None)
    assert not view.scene().items()


def test_googlenet_opens_with_inception_blocks_and_expands_one(view):
    view.set_summary(summary("googlenet"))
    blocks = [n for n in view.visible_graph.blocks if n.op == "Inception"]
    assert len(blocks) == 9
    view.expand("inception3a")
    assert "inception3a" not in view.visible_graph
    assert "inception3a.cat" in view.visible_graph and "inception3b" in view.visible_graph
    firsts = ["inception3a.branch1.conv", "inception3a.branch2.0.conv", "inception3a.branch3.0.conv", "inception3a.branch4.0"]
    xs = [view.node_item(n).x() for n in firsts]
    assert len(set(xs)) == 4
    assert len({view.node_item(n).y() for n in firsts}) == 1
    view.collapse("inception3a")
    assert view.node_item("inception3a").node.is_block


def test_clicking_a_node_emits_node_selected(view, qtbot):
    view.set_summary(summary("resnet18"))
    view.select("layer1.0.conv1")
    with qtbot.waitSignal(view.nodeSelected, timeout=1000) as signal:
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=_click_point(view, "layer1.0.bn1"))
    assert signal.args == ["layer1.0.bn1"]
    assert view.selected() == "layer1.0.bn1"


def test_clicking_a_block_emits_its_path(view, qtbot):
    view.set_summary(summary("resnet152"))
    view.select("layer2.2")
    with qtbot.waitSignal(view.nodeSelected, timeout=1000) as signal:
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=_click_point(view, "layer2.3"))
    assert signal.args == ["layer2.3"]


def test_select_selects_and_centres_without_emitting(view, qtbot):
    view.set_summary(summary("resnet18"))
    with qtbot.assertNotEmitted(view.nodeSelected):
        view.select("layer4.1.conv2")
    assert view.selected() == "layer4.1.conv2"
    centre = view.mapToScene(view.viewport().rect().center())
    item = view.node_item("layer4.1.conv2")
    assert abs(centre.y() - item.y()) < 2
    view.select("no such layer")
    assert view.selected() is None


def test_select_reveals_a_layer_inside_a_collapsed_block(view, qtbot):
    view.set_summary(summary("resnet152"))
    assert "layer3.5" in view.collapsed
    with qtbot.assertNotEmitted(view.nodeSelected):
        view.select("layer3.5.conv2")
    assert "layer3.5" not in view.collapsed and "layer3.4" in view.collapsed
    assert view.selected() == "layer3.5.conv2"


def test_arrow_keys_walk_along_edges(view, qtbot):
    view.set_summary(summary("resnet18"))
    view.select("conv1")
    view.setFocus()
    with qtbot.waitSignal(view.nodeSelected, timeout=1000) as signal:
        qtbot.keyClick(view, Qt.Key.Key_Down)
    assert signal.args == ["bn1"]
    qtbot.keyClick(view, Qt.Key.Key_Up)
    assert view.selected() == "conv1"
    view.select("layer2.0.conv1")
    qtbot.keyClick(view, Qt.Key.Key_Right)
    assert view.selected() == "layer2.0.downsample.0"  # the other branch leaving layer1.1
    qtbot.keyClick(view, Qt.Key.Key_Left)
    assert view.selected() == "layer2.0.conv1"


def test_left_right_walk_across_inception_branches(view, qtbot):
    view.set_summary(summary("googlenet"))
    view.select("inception3a.branch1.conv")  # reveals inception3a
    order = [view.selected()]
    for _ in range(3):
        qtbot.keyClick(view, Qt.Key.Key_Right)
        order.append(view.selected())
    assert sorted(order) == sorted(
        ["inception3a.branch1.conv", "inception3a.branch2.0.conv", "inception3a.branch3.0.conv", "inception3a.branch4.0"]
    )
    qtbot.keyClick(view, Qt.Key.Key_Down)
    assert view.visible_graph.predecessors(view.selected()) == (order[-1],)


def test_find_selects_matches_and_cycles(view, qtbot):
    view.set_summary(summary("resnet18"))
    with qtbot.waitSignal(view.nodeSelected, timeout=1000):
        matches = view.find("downsample.0")
    assert matches == ["layer2.0.downsample.0", "layer3.0.downsample.0", "layer4.0.downsample.0"]
    assert view.selected() == matches[0]
    assert view.next_match() == matches[1]
    view.next_match()
    assert view.next_match() == matches[0]  # cycles
    assert view.find("MaxPool2d") == ["maxpool"]  # by type, any case
    assert view.find("nothing like this") == []


def test_find_prefers_a_matching_block_to_its_layers(view):
    view.set_summary(summary("resnet152"))
    assert view.find("layer3.12") == ["layer3.12"]
    assert view.selected() == "layer3.12" and "layer3.12" in view.collapsed


def test_ctrl_f_opens_the_inline_search(view, qtbot):
    view.set_summary(summary("resnet18"))
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    field = view.findChild(QLineEdit)
    assert field.isVisible() and field.hasFocus()
    qtbot.keyClicks(field, "relu:2")
    assert view.selected() == "layer1.0.relu:2"
    qtbot.keyClick(field, Qt.Key.Key_Return)
    assert view.selected() == "layer1.1.relu:2"
    qtbot.keyClick(field, Qt.Key.Key_Escape)
    assert not field.isVisible()


def test_double_click_expands_a_block_and_collapses_a_frame(view, qtbot):
    view.set_summary(summary("resnet50"))
    view.select("layer2.1")
    qtbot.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, pos=_click_point(view, "layer2.1"))
    assert "layer2.1" not in view.collapsed
    assert "layer2.1.conv2" in view.visible_graph
    frame = next(i for i in view.scene().items() if isinstance(i, FrameItem) and i.path == "layer2.1")
    corner = frame.boundingRect().bottomLeft() + QPointF(6, -4)  # inside the frame, off its nodes
    qtbot.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.mapFromScene(corner))
    assert "layer2.1" in view.collapsed


def test_expand_all_and_back(view):
    view.set_summary(summary("resnet152"))
    view.expand_all()
    assert len(view.visible_graph) == len(summary("resnet152").graph)
    assert len(view.graph_layout.shortcuts) == 50
    view.collapse_to_default()
    assert view.collapsed == default_collapsed(summary("resnet152").graph)
    view.set_collapsed({"layer1", "nonsense"})
    assert view.collapsed == {"layer1"}


def test_context_menu_offers_collapse_and_expand(view):
    view.set_summary(summary("resnet50"))
    view.expand("layer1.0")
    texts = [a.text() for a in view.context_menu(view.node_item("layer1.0.conv1")).actions()]
    assert "Collapse layer1.0" in texts and "Collapse layer1" in texts
    texts = [a.text() for a in view.context_menu(view.node_item("layer1.1")).actions()]
    assert "Expand layer1.1" in texts


def test_fit_wheel_and_keys_zoom(view, qtbot):
    view.set_summary(summary("resnet18"))
    before = view.zoom()
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_F)
    fitted = view.zoom()
    assert fitted < before
    assert view.mapToScene(view.viewport().rect()).boundingRect().contains(view.scene().itemsBoundingRect())
    centre = QPointF(view.viewport().rect().center())
    wheel = QWheelEvent(
        centre, view.viewport().mapToGlobal(centre), QPoint(), QPoint(0, 240),
        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False,
    )  # fmt: skip
    QApplication.sendEvent(view.viewport(), wheel)
    assert view.zoom() > fitted


def test_save_image_writes_png_and_svg(view, tmp_path):
    view.set_summary(summary("googlenet"))
    view.select("inception4a")
    png, svg = tmp_path / "graph.png", tmp_path / "graph.svg"
    view.save_image(png)
    view.save_image(svg)
    assert png.read_bytes().startswith(b"\x89PNG") and png.stat().st_size > 10_000
    text = svg.read_text()
    assert "<svg" in text and "inception4a" in text
    assert view.selected() == "inception4a"  # the export leaves the selection alone


def test_dark_palette_rebuilds_with_dark_colours(view, tmp_path):
    view.set_summary(summary("lenet5"))
    palette = view.palette()
    palette.setColor(QPalette.ColorRole.Base, QColor("#1e1e1e"))
    palette.setColor(QPalette.ColorRole.Text, QColor("#e0e0e0"))
    view.setPalette(palette)
    assert len(view.visible_graph) == len(summary("lenet5").graph)
    view.save_image(tmp_path / "dark.png")
    image = QImage(str(tmp_path / "dark.png"))
    assert image.pixelColor(2, 2).lightness() < 60  # the background follows the palette
    origin = view.scene().itemsBoundingRect().topLeft() - QPointF(24, 24)  # the export's margin
    inside_card = view.node_item("input").pos() + QPointF(NODE_WIDTH / 2 - 30, 0) - origin  # right of the text
    assert image.pixelColor(int(2 * inside_card.x()), int(2 * inside_card.y())).lightness() < 110  # so do the cards

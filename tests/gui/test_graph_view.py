"""The layer-graph view, its Qt-free folding and layout, on real analyses from the core (offscreen Qt)."""

from __future__ import annotations

import functools
import itertools
import math
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPalette, QWheelEvent
from PySide6.QtWidgets import QApplication, QLineEdit

from explorer.core import analyze
from explorer.core.graph import RANGE_MARK as CORE_RANGE_MARK
from explorer.core.stats import ModelSummary
from explorer.core.zoo import zoo_specs
from explorer.gui.widgets.graph_view import GraphView
from explorer.gui.widgets.graph_view.hierarchy import (
    RANGE_MARK,
    REPEAT,
    STAGE,
    Hierarchy,
    build_hierarchy,
    default_collapsed,
)
from explorer.gui.widgets.graph_view.items import EdgeItem, FrameItem, NodeItem, ShapeLabel
from explorer.gui.widgets.graph_view.layout import (
    LEFT_RIGHT,
    NODE_HEIGHT,
    NODE_WIDTH,
    TOP_DOWN,
    Layout,
    VisibleGraph,
    compute_layout,
    visible_graph,
)
from explorer.gui.widgets.graph_view.scene import format_shape
from explorer.gui.widgets.graph_view.style import MIN_SCREEN_PT
from explorer.gui.widgets.graph_view.view import MINIMAP_ROOM

ROOT = Path(__file__).resolve().parents[2]
ZOO = [spec.name for spec in zoo_specs()]
RESNET152_STAGES = ["input", "conv1…maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool…fc"]
ROUNDING = 1e-6  # a scale of 0.9999999999999999 draws a 9 pt font at 8.999999999999998 pt


@functools.cache
def summary(name: str) -> ModelSummary:
    return analyze(name)


@functools.cache
def hierarchy(name: str, repeats: bool = True) -> Hierarchy:
    return build_hierarchy(summary(name).graph, repeats=repeats)


def shown(name: str, collapsed: frozenset[str] | set[str] | None = None, repeats: bool = True) -> VisibleGraph:
    """The visible graph of a model, folded as it opens (or as ``collapsed`` says)."""
    graph, groups = summary(name).graph, hierarchy(name, repeats)
    return visible_graph(graph, groups, default_collapsed(groups, graph) if collapsed is None else collapsed)


@pytest.fixture
def view(qtbot) -> GraphView:
    view = GraphView()
    qtbot.addWidget(view)
    view.resize(1200, 800)
    view.show()
    qtbot.waitExposed(view)
    return view


def _inception_branches(layout: Layout, module: str) -> list[list[str]]:
    """Each branch's nodes: its BasicConv2d blocks (folded, as a network opens) and its pool."""
    return [sorted(n for n in layout.positions if n.startswith(f"{module}.branch{i}")) for i in range(1, 5)]


def _click_point(view: GraphView, name: str) -> QPoint:
    item = view.node_item(name)
    assert item is not None
    return view.mapFromScene(item.scenePos())


def _viewport_in_scene(view: GraphView) -> QRectF:
    return view.mapToScene(view.viewport().rect()).boundingRect()


def _screen_rect(view: GraphView, item) -> QRectF:  # noqa: ANN001
    """An item's card (or rect) in viewport coordinates."""
    return view.mapFromScene(item.mapRectToScene(item.rect)).boundingRect().toRectF()


# --- the core's range paths --------------------------------------------------------------------


def test_a_range_of_a_modules_parts_holds_them_without_side_outputs():
    graph = analyze("googlenet", mode="train").graph
    assert graph.units()[9:16] == (
        "inception4a",
        "aux1",
        "inception4b",
        "inception4c",
        "inception4d",
        "aux2",
        "inception4e",
    )
    assert {"aux1", "aux2"} <= graph.side_outputs()
    inside = {n.path.split(".")[0] for n in graph.nodes_under(f"inception4a{CORE_RANGE_MARK}inception4e")}
    assert inside == {f"inception4{x}" for x in "abcde"}  # aux1 runs after 4a, but is not part of the stage
    head = [n.name for n in summary("resnet152").graph.nodes_under("avgpool…fc")]
    assert head == ["avgpool", "flatten", "fc"]  # a functional flatten between two modules is in the range
    assert summary("resnet152").graph.nodes_under("layer1.0…fc") == []  # not parts of one module
    assert RANGE_MARK == CORE_RANGE_MARK


@pytest.mark.parametrize("model", ["resnet152", "googlenet", "vgg16", "efficientnet_b0", "efficientnet_lite0"])
def test_every_group_is_what_the_core_finds_under_its_path(model):
    """The other views show a selected stage through ``summary.block(path)``: the same layers."""
    groups = hierarchy(model)
    for path, group in groups.groups.items():
        assert tuple(n.name for n in summary(model).graph.nodes_under(path)) == group.members, path


# --- hierarchy.py: stages, stem and head, repeats (no Qt) ---------------------------------------


def test_folding_a_module_remaps_its_edges():
    graph = summary("resnet18").graph
    visible = visible_graph(graph, hierarchy("resnet18"), {"layer1.0"})
    block = visible.node("layer1.0")
    assert block.is_block and block.label == "layer1.0 · BasicBlock" and block.residual
    assert set(block.members) == {n.name for n in graph.nodes_under("layer1.0")}
    assert len(visible) == len(graph) - len(block.members) + 1
    assert visible.predecessors("layer1.0") == ("maxpool",)
    assert set(visible.successors("layer1.0")) == {"layer1.1.conv1", "layer1.1.add"}
    assert all(e.source != e.target for e in visible.edges)
    assert len({(e.source, e.target) for e in visible.edges}) == len(visible.edges)
    assert visible.owner["layer1.0.bn2"] == "layer1.0"
    assert block.output_shape == graph.node("layer1.0.relu:2").output_shape


@pytest.mark.parametrize("model", ["alexnet", "zfnet", "lenet5", "alexnet_2gpu"])
def test_small_networks_open_expanded(model):
    assert default_collapsed(hierarchy(model), summary(model).graph) == frozenset()


def test_networks_with_stages_open_at_them():
    assert [n.title for n in shown("vgg16").nodes] == ["input", *(f"stage {i}" for i in range(1, 6)), "head"]
    assert [n.title for n in shown("resnet18").nodes] == [
        "input",
        "stem",
        "layer1",
        "layer2",
        "layer3",
        "layer4",
        "head",
    ]


def test_resnet152_opens_as_stem_stages_and_head():
    visible = shown("resnet152")
    assert [n.name for n in visible.nodes] == RESNET152_STAGES
    layer1 = visible.node("layer1")
    assert (layer1.title, layer1.summary, format_shape(layer1.output_shape)) == (
        "layer1",
        "3 × Bottleneck",
        "256×56×56",
    )
    assert [visible.node(f"layer{i}").count for i in (1, 2, 3, 4)] == [3, 8, 36, 3]
    assert visible.node("conv1…maxpool").title == "stem" and visible.node("avgpool…fc").title == "head"
    assert all(visible.node(f"layer{i}").residual for i in (1, 2, 3, 4))  # collapsed, they still say so
    assert not visible.node("conv1…maxpool").residual


def test_expanding_a_stage_shows_its_blocks_and_a_block_its_layers():
    graph, groups = summary("resnet50").graph, hierarchy("resnet50", repeats=False)
    collapsed = default_collapsed(groups, graph)
    stage = visible_graph(graph, groups, collapsed - {"layer2"})
    assert [n.name for n in stage.nodes if n.name.startswith("layer2")] == [f"layer2.{i}" for i in range(4)]
    assert all(stage.node(f"layer2.{i}").is_block for i in range(4))
    block = visible_graph(graph, groups, collapsed - {"layer2", "layer2.0"})
    assert "layer2.0.conv2" in block and "layer2.0.downsample.0" in block and block.node("layer2.1").is_block


def test_googlenet_stages_are_its_inception_groups():
    groups = hierarchy("googlenet")
    stages = {g.title: g for g in groups.groups.values() if g.kind == STAGE}
    assert list(stages) == ["inception3a–3b", "inception4a–4e", "inception5a–5b"]
    assert stages["inception4a–4e"].summary == "5 × Inception"
    assert stages["inception4a–4e"].path == "inception4a…inception4e"
    assert [n.name for n in shown("googlenet").nodes] == [
        "input", "conv1…maxpool2", "inception3a…inception3b", "maxpool3", "inception4a…inception4e",
        "maxpool4", "inception5a…inception5b", "avgpool…fc",
    ]  # fmt: skip


def test_efficientnet_and_vgg_stages():
    b0 = {g.path: g for g in hierarchy("efficientnet_b0").groups.values() if g.kind == STAGE}
    assert list(b0) == [f"features.{i}" for i in range(1, 8)]
    assert [g.count for g in b0.values()] == [1, 2, 2, 3, 3, 4, 1]
    vgg = [g for g in hierarchy("vgg16").groups.values() if g.kind == STAGE]
    assert [g.title for g in vgg] == [f"stage {i}" for i in range(1, 6)]
    assert [g.summary for g in vgg] == ["2 × Conv2d", "2 × Conv2d", "3 × Conv2d", "3 × Conv2d", "3 × Conv2d"]
    graph = summary("vgg16").graph
    assert all(graph.node(g.members[-1]).op == "MaxPool2d" for g in vgg)  # a pool ends each stage
    assert [format_shape(g.output_shape) for g in vgg] == [
        "64×112×112",
        "128×56×56",
        "256×28×28",
        "512×14×14",
        "512×7×7",
    ]


def test_repeated_blocks_fold_into_one_node_and_expand_back():
    graph, groups = summary("resnet152").graph, hierarchy("resnet152")
    collapsed = default_collapsed(groups, graph)
    assert shown("resnet152").node("layer3").summary == "36 × Bottleneck"
    stage = visible_graph(graph, groups, collapsed - {"layer3"})
    assert [n.name for n in stage.nodes if n.name.startswith("layer3")] == ["layer3.0", "layer3.1…layer3.35"]
    repeat = stage.node("layer3.1…layer3.35")
    assert (repeat.group, repeat.count, repeat.summary, repeat.title) == (REPEAT, 35, "× 35 Bottleneck", "layer3.1–35")
    # layer3.0 is not one of them: it halves the resolution and projects its shortcut.
    assert "layer3.0.downsample.0" in graph and "layer3.1.downsample.0" not in graph
    back = visible_graph(graph, groups, collapsed - {"layer3", "layer3.1…layer3.35"})
    assert [n.name for n in back.nodes if n.name.startswith("layer3")] == [f"layer3.{i}" for i in range(36)]
    unfolded = hierarchy("resnet152", repeats=False)
    assert not unfolded.of_kind(REPEAT)
    assert [
        n.name
        for n in visible_graph(graph, unfolded, {"layer3.0", "layer3.1", "layer3.35"}).nodes
        if n.name.startswith("layer3.")
    ][:3] == ["layer3.0", "layer3.1", "layer3.2.conv1"]


def test_parallel_identical_modules_are_not_repeats():
    assert not hierarchy("alexnet_2gpu").of_kind(REPEAT, STAGE)  # the two towers run side by side


# --- layout.py (no Qt) ---------------------------------------------------------------------------


@pytest.mark.parametrize("direction", [TOP_DOWN, LEFT_RIGHT])
@pytest.mark.parametrize("model", ["googlenet", "resnet50", "alexnet_2gpu", "efficientnet_b0"])
def test_no_two_nodes_overlap(model, direction):
    layout = compute_layout(shown(model, set()), direction=direction)
    points = list(layout.positions.values())
    for (x1, y1), (x2, y2) in itertools.combinations(points, 2):
        assert abs(x1 - x2) >= NODE_WIDTH or abs(y1 - y2) >= NODE_HEIGHT


def test_inception_branches_stand_side_by_side_between_split_and_cat():
    graph = summary("googlenet").graph
    collapsed = default_collapsed(hierarchy("googlenet"), graph) - {"inception3a…inception3b", "inception3a"}
    layout = compute_layout(shown("googlenet", collapsed))
    branches = _inception_branches(layout, "inception3a")
    xs = [{layout.positions[n][0] for n in branch} for branch in branches]
    assert all(len(x) == 1 for x in xs), "each branch is one straight column"
    assert len(set().union(*xs)) == 4
    spans = [(min(layout.positions[n][1] for n in b), max(layout.positions[n][1] for n in b)) for b in branches]
    assert max(top for top, _ in spans) <= min(bottom for _, bottom in spans)  # they overlap vertically
    split, cat = layout.positions["conv1…maxpool2"][1], layout.positions["inception3a.cat"][1]  # the stem, folded
    assert all(split < top and bottom < cat for top, bottom in spans)


def test_left_to_right_swaps_the_axes_and_stacks_inception_branches():
    graph = summary("googlenet").graph
    collapsed = default_collapsed(hierarchy("googlenet"), graph) - {"inception3a…inception3b", "inception3a"}
    visible = shown("googlenet", collapsed)
    down, right = compute_layout(visible), compute_layout(visible, direction=LEFT_RIGHT)
    order = [node.name for node in visible.nodes]
    # Along the flow: y top to bottom, x left to right, the same order of layers.
    assert sorted(order, key=lambda n: (down.positions[n][1], n)) == sorted(
        order, key=lambda n: (right.positions[n][0], n)
    )
    assert {n: down.layers[n] for n in order} == {n: right.layers[n] for n in order}
    # Across: the four branches of inception3a are four columns top-down, four rows left to right.
    firsts = [b[0] for b in _inception_branches(right, "inception3a")]
    assert len({right.positions[n][1] for n in firsts}) == 4 and len({right.positions[n][0] for n in firsts}) == 1
    assert len({down.positions[n][0] for n in firsts}) == 4 and len({down.positions[n][1] for n in firsts}) == 1
    split, cat = right.positions["conv1…maxpool2"][0], right.positions["inception3a.cat"][0]
    assert all(
        split < right.positions[n][0] < cat for branch in _inception_branches(right, "inception3a") for n in branch
    )


@pytest.mark.parametrize("model", ["resnet18", "resnet50"])
def test_the_main_column_of_a_resnet_is_straight(model):
    layout = compute_layout(shown(model, set()))
    main = [n.name for n in summary(model).graph.nodes if ".downsample." not in n.name]
    assert {layout.positions[n][0] for n in main} == {layout.positions["input"][0]}
    assert layout.spine >= set(main)
    projections = {layout.positions[n][0] for n in layout.positions if ".downsample." in n}
    assert projections and all(x > layout.positions["input"][0] for x in projections)  # beside it


def test_residual_shortcuts_are_marked():
    layout = compute_layout(shown("resnet18", set()))
    shortcuts = {(e.source, e.target) for e in layout.shortcuts}
    assert len(shortcuts) == 8
    assert ("maxpool", "layer1.0.add") in shortcuts  # identity: the block input
    assert ("layer2.0.downsample.1", "layer2.0.add") in shortcuts  # projection
    assert not any(e.shortcut for e in layout.edges if e.target.endswith(".conv1"))
    # The identity shortcut runs in a lane beside its block, not through it.
    block_right = (
        max(layout.positions[n.name][0] for n in summary("resnet18").graph.nodes_under("layer1.0")) + NODE_WIDTH / 2
    )
    lane = next(e for e in layout.shortcuts if e.target == "layer1.0.add").points[1][0]
    assert lane > block_right
    assert len(compute_layout(shown("resnet50", set())).shortcuts) == 16


def test_concatenations_are_not_shortcuts():
    assert not compute_layout(shown("googlenet", set())).shortcuts


def test_alexnet_2gpu_towers_are_two_lanes():
    layout = compute_layout(shown("alexnet_2gpu"))
    for conv in ("conv1", "conv2", "conv3", "conv4", "conv5"):
        (x0, y0), (x1, y1) = layout.positions[f"tower0.{conv}"], layout.positions[f"tower1.{conv}"]
        assert x0 != x1 and y0 == y1
    lanes = {layout.positions[f"tower{t}.{c}"][0] for t in (0, 1) for c in ("conv1", "pool2", "conv3", "pool5")}
    assert len(lanes) == 2
    assert {f.title for f in layout.frames} == {"tower0", "tower1"}  # one frame per tower segment
    assert len(layout.frames) == 4


def test_folding_a_module_called_in_two_pieces_makes_a_drawable_cycle():
    visible = shown("alexnet_2gpu", {"tower0"})
    assert "cat" in visible.successors("tower0") and "tower0" in visible.successors("cat")
    layout = compute_layout(visible)
    assert {(e.source, e.target) for e in layout.edges} == {(e.source, e.target) for e in visible.edges}


def test_long_edges_bend_through_dummy_points():
    graph = summary("googlenet").graph
    collapsed = default_collapsed(hierarchy("googlenet"), graph) - {"inception3a…inception3b", "inception3a"}
    route = next(e for e in compute_layout(shown("googlenet", collapsed)).edges if e.source == "inception3a.branch1")
    assert route.target == "inception3a.cat" and len(route.points) > 2


def test_the_graph_view_does_not_load_torch():
    """The window must appear before torch finishes importing: the view imports it lazily."""
    probe = "import sys, explorer.gui.widgets.graph_view.view; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.strip() == "False"


# --- the view ------------------------------------------------------------------------------


def test_set_summary_fills_the_scene(view):
    view.set_summary(summary("resnet18"))
    view.expand_all()
    items = view.scene().items()
    assert sum(isinstance(i, NodeItem) for i in items) == len(summary("resnet18").graph) == 70
    assert sum(isinstance(i, EdgeItem) for i in items) == len(summary("resnet18").graph.edges)
    assert sum(isinstance(i, EdgeItem) and i.route.shortcut for i in items) == 8
    assert sum(isinstance(i, ShapeLabel) for i in items) == 69  # every node but the output sends a tensor on
    view.set_summary(None)
    assert not view.scene().items()


def test_googlenet_opens_at_stage_level_and_expands_a_stage_and_a_block(view):
    view.set_summary(summary("googlenet"))
    assert [n.name for n in view.visible_graph.blocks if n.group == STAGE] == [
        "inception3a…inception3b", "inception4a…inception4e", "inception5a…inception5b",
    ]  # fmt: skip
    view.expand("inception3a…inception3b")
    assert view.node_item("inception3a").node.is_block and view.node_item("inception3b").node.is_block
    view.expand("inception3a")
    assert "inception3a.cat" in view.visible_graph and "inception3b" in view.visible_graph
    firsts = ["inception3a.branch1", "inception3a.branch2.0", "inception3a.branch3.0", "inception3a.branch4.0"]
    assert all(view.node_item(n).node.is_block for n in firsts[:3])  # BasicConv2d: a conv, its norm and ReLU
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


def test_clicking_a_stage_emits_its_path_that_the_summary_knows(view, qtbot):
    view.set_summary(summary("googlenet"))
    view.select("maxpool3")
    with qtbot.waitSignal(view.nodeSelected, timeout=1000) as signal:
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=_click_point(view, "inception4a…inception4e"))
    assert signal.args == ["inception4a…inception4e"]
    rows, totals = summary("googlenet").block(signal.args[0])  # what the layer panel shows
    assert len(rows) == 5 * 20 and totals.params == sum(
        summary("googlenet").block(f"inception4{x}")[1].params for x in "abcde"
    )


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


def test_select_reveals_a_layer_inside_a_collapsed_stage(view, qtbot):
    view.set_summary(summary("resnet152"))
    assert {"layer3", "layer3.1…layer3.35", "layer3.5"} <= view.collapsed
    with qtbot.assertNotEmitted(view.nodeSelected):
        view.select("layer3.5.conv2")
    assert not {"layer3", "layer3.1…layer3.35", "layer3.5"} & view.collapsed
    assert {"layer3.4", "layer2", "layer4"} <= view.collapsed
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
        ["inception3a.branch1.conv", "inception3a.branch2.0", "inception3a.branch3.0", "inception3a.branch4.0"]
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
    assert view.find("stem") == ["conv1…maxpool"]  # a stage by its title


def test_search_centres_zooms_and_pulses_the_hit(view, qtbot):
    view.set_summary(summary("resnet152"))
    view.expand_all()
    view.fit()
    assert view.zoom() < 0.1
    view.find("layer4.1.conv2")
    item = view.node_item("layer4.1.conv2")
    assert view.selected() == "layer4.1.conv2" and item.isSelected()
    assert view.zoom() >= 1.0  # its card says name, type and shape
    centre = view.mapToScene(view.viewport().rect().center())
    assert abs(centre.y() - item.y()) < 2  # centred (across, the graph is narrower than the view)
    assert _viewport_in_scene(view).contains(item.mapRectToScene(item.rect))
    assert view.pulsing == "layer4.1.conv2"
    qtbot.waitUntil(lambda: view.pulsing is None, timeout=5000)  # the pulse ends by itself


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


def test_double_click_expands_and_collapses_where_the_user_clicked(view, qtbot):
    view.set_summary(summary("googlenet"))
    block = view.node_item("inception4a…inception4e")
    click = _screen_rect(view, block).topLeft() + QPointF(30, 12)
    qtbot.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, pos=click.toPoint())
    assert "inception4a…inception4e" not in view.collapsed
    frame = next(i for i in view.scene().items() if isinstance(i, FrameItem) and i.path == "inception4a…inception4e")
    placed = _screen_rect(view, frame)
    assert QRectF(view.viewport().rect()).contains(placed)  # the whole stage is in view …
    # … with its top-left corner where the block's was, unless showing it whole moved it.
    assert abs(placed.left() + 30 - click.x()) < 2 or abs(placed.top() + 12 - click.y()) < 2
    # Double-click its title: the block comes back under the pointer.
    title = placed.topLeft() + QPointF(20, 9)
    qtbot.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, pos=title.toPoint())
    assert "inception4a…inception4e" in view.collapsed
    back = _screen_rect(view, view.node_item("inception4a…inception4e"))
    assert back.contains(title)


def test_an_expanded_block_comes_into_view_whole(view, qtbot):
    view.set_summary(summary("googlenet"))
    view.expand("inception4a…inception4e")
    view.centerOn(view.node_item("inception4c"))
    item = view.node_item("inception4c")
    qtbot.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, pos=_screen_rect(view, item).center().toPoint())
    frame = next(i for i in view.scene().items() if isinstance(i, FrameItem) and i.path == "inception4c")
    assert QRectF(view.viewport().rect()).contains(_screen_rect(view, frame))  # all four branches on screen


def test_expand_all_and_back(view):
    view.set_summary(summary("resnet152"))
    view.expand_all()
    assert len(view.visible_graph) == len(summary("resnet152").graph)
    assert len(view.graph_layout.shortcuts) == 50
    view.collapse_to_default()
    assert view.collapsed == default_collapsed(hierarchy("resnet152"), summary("resnet152").graph)
    view.set_collapsed({"layer1", "nonsense"})
    assert view.collapsed == {"layer1"}


def test_context_menu_offers_collapse_and_expand(view):
    view.set_summary(summary("resnet50"))
    view.expand("layer1.0")
    texts = [a.text() for a in view.context_menu(view.node_item("layer1.0.conv1")).actions()]
    assert "Collapse layer1.0" in texts and "Collapse layer1" in texts
    texts = [a.text() for a in view.context_menu(view.node_item("layer1.1…layer1.2")).actions()]
    assert "Expand layer1.1–2 (layer1.1…layer1.2)" in texts


def test_fit_wheel_and_keys_zoom(view, qtbot):
    view.set_summary(summary("resnet18"))
    view.expand_all()
    before = view.zoom()
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_F)
    fitted = view.zoom()
    assert fitted < before
    assert _viewport_in_scene(view).contains(view.scene().graph_rect)
    centre = QPointF(view.viewport().rect().center())
    wheel = QWheelEvent(
        centre, view.viewport().mapToGlobal(centre), QPoint(), QPoint(0, 240),
        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False,
    )  # fmt: skip
    QApplication.sendEvent(view.viewport(), wheel)
    assert view.zoom() > fitted


def test_the_minimap_shows_the_whole_graph_and_moves_the_view(view, qtbot):
    view.set_summary(summary("resnet152"))
    view.fit()
    assert not view.minimap.isVisible()  # everything is in view: nothing to find
    view.expand("layer3")
    view.expand("layer3.0")
    view.select("layer3.0.conv2")
    minimap = view.minimap
    assert minimap.isVisible() and view.viewport().geometry().contains(minimap.geometry())
    assert _viewport_in_scene(view).intersects(minimap.region) and minimap.region.contains(
        view.mapToScene(view.viewport().rect().center())
    )
    # Click near the bottom of the overview: the view jumps to the head.
    target = minimap.to_widget(view.node_item("avgpool…fc").scenePos())
    qtbot.mouseClick(minimap, Qt.MouseButton.LeftButton, pos=target.toPoint())
    assert _viewport_in_scene(view).contains(view.node_item("avgpool…fc").scenePos())
    # Drag the rectangle back up to the input.
    start = minimap.to_widget(minimap.region.center()).toPoint()
    end = minimap.to_widget(view.node_item("input").scenePos()).toPoint()
    qtbot.mousePress(minimap, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(minimap, pos=end)
    qtbot.mouseRelease(minimap, Qt.MouseButton.LeftButton, pos=end)
    assert _viewport_in_scene(view).contains(view.node_item("input").scenePos())
    # In a view too small to spare it (What if's graph column at 1024×700) the overview stays hidden.
    view.resize(220, 400)
    assert view.viewport().width() < MINIMAP_ROOM and not minimap.isVisible()
    assert not _viewport_in_scene(view).contains(view.scene().graph_rect)  # (though not all is in view)
    view.resize(1200, 800)
    assert minimap.isVisible()


def _labels_readable(view: GraphView) -> list[tuple[str, float]]:
    labels = view.drawn_labels()
    small = [(text, size) for text, size in labels if size < MIN_SCREEN_PT - ROUNDING]
    assert not small, small
    return labels


def test_resnet152_at_stage_level_fits_readably(view):
    view.set_summary(summary("resnet152"))
    view.fit()
    texts = {text for text, _ in _labels_readable(view)}
    assert {"stem", "layer1", "layer2", "layer3", "layer4", "head"} <= texts  # every stage is named
    assert any("36" in text for text in texts)  # and says how many blocks it holds


@pytest.mark.parametrize("direction", [TOP_DOWN, LEFT_RIGHT])
def test_no_label_is_drawn_below_9_points_at_any_zoom(view, direction):
    view.set_direction(direction)
    view.set_summary(summary("resnet50"))
    view.expand("layer2")
    view.expand("layer2.0")
    for scale in (4.0, 1.5, 1.0, 0.97, 0.8, 0.6, 0.45, 0.3, 0.2, 0.1, 0.05, 0.01):
        view._set_scale(scale)
        for item in view.scene().items():
            drawn = getattr(item, "drawn_labels", None)
            if drawn is not None:
                assert all(size >= MIN_SCREEN_PT - ROUNDING for _, size in drawn(view.zoom())), (scale, item)


def test_frames_keep_their_titles_zoomed_out(view):
    view.set_direction(LEFT_RIGHT)
    view.set_summary(summary("resnet18"))
    view.expand_all()
    view.fit()
    assert view.zoom() < 0.1  # far out: the nodes are bare colour
    assert not [
        text
        for item in view.scene().items()
        if isinstance(item, NodeItem)
        for text, _ in item.drawn_labels(view.zoom())
    ]
    titles = {text for text, _ in _labels_readable(view)}
    assert {f"layer{i} · 2 × BasicBlock" for i in (1, 2, 3, 4)} <= titles
    view.set_direction(TOP_DOWN)  # a tall column: the titles stand beside it
    view.fit()
    assert {f"layer{i} · 2 × BasicBlock" for i in (1, 2, 3, 4)} <= {text for text, _ in _labels_readable(view)}


def test_left_to_right_layout_swaps_the_view(view):
    view.set_summary(summary("resnet18"))
    down = {n: (i.x(), i.y()) for n, i in view.scene().nodes.items()}
    view.set_direction(LEFT_RIGHT)
    right = {n: (i.x(), i.y()) for n, i in view.scene().nodes.items()}
    assert view.graph_layout.direction == LEFT_RIGHT
    main = [n for n in down if ".downsample." not in n]
    assert len({down[n][0] for n in main}) == 1 and len({right[n][1] for n in main}) == 1  # a column, then a row
    assert sorted(main, key=lambda n: down[n][1]) == sorted(main, key=lambda n: right[n][0])


def test_edge_labels_show_the_producing_nodes_shape(view):
    view.set_summary(summary("resnet50"))
    view.expand("layer1")
    view.expand("layer1.0")
    graph = summary("resnet50").graph
    labels = [item for item in view.scene().items() if isinstance(item, ShapeLabel)]
    for name, producer in (("layer1.0.conv1",) * 2, ("layer1.0.downsample.0",) * 2, ("conv1…maxpool", "maxpool")):
        node = view.node_item(name)
        label = next(
            i for i in labels if abs(i.x() - node.x() - 8) < 1 and abs(i.y() - node.y() - NODE_HEIGHT / 2 - 3) < 1
        )
        assert label.text == format_shape(graph.node(producer).output_shape)
    view.focus_on("layer1.0.conv1")  # zoomed in: the shapes are written on the edges
    assert ("64×56×56", pytest.approx(9.0, abs=1.5)) in [(t, s) for t, s in view.drawn_labels() if t == "64×56×56"]
    view.set_edge_labels(False)
    assert not [item for item in view.scene().items() if isinstance(item, ShapeLabel) and item.isVisible()]


def test_edge_width_grows_with_the_tensor(view):
    view.set_summary(summary("resnet50"))
    view.expand("layer1")
    view.expand("layer1.0")
    width = {(e.route.source, e.route.target): e.width for e in view.scene().edges}
    squeezed = width[("layer1.0.conv1", "layer1.0.bn1")]  # 64×56×56, the bottleneck
    wide = width[("layer1.0.relu:3", "layer1.1…layer1.2")]  # 256×56×56
    assert wide > squeezed + 0.5
    assert math.isclose(squeezed, 0.8 + 1.2 * math.log10(64 * 56 * 56 / 1000))


def _covered_by_overlays(view: GraphView) -> list[QRectF]:
    overlays = [view.legend, view.minimap]
    return [QRectF(w.geometry()) for w in overlays if w.isVisible()]


@pytest.mark.parametrize("direction", [TOP_DOWN, LEFT_RIGHT])
def test_fit_shows_every_node_of_every_zoo_model(view, direction):
    view.set_direction(direction)
    for model in ZOO:
        view.set_summary(summary(model))
        view.fit()
        viewport = QRectF(view.viewport().geometry())
        overlays = _covered_by_overlays(view)
        assert view.legend.isVisible() and not view.legend.geometry().intersects(view.viewport().geometry())
        for name, item in view.scene().nodes.items():
            card = _screen_rect(view, item).translated(viewport.topLeft())  # in the view's coordinates
            assert viewport.contains(card), (model, name)
            assert not any(card.intersects(o) for o in overlays), (model, name)


def test_a_short_view_leaves_the_legend_out_and_gives_the_graph_its_room(view, qtbot):
    view.set_summary(summary("resnet50"))
    width = 230
    view.resize(width, 120)  # What if's graph beside its diff at 1024×700: the legend wraps to 3 lines
    qtbot.waitUntil(lambda: view.height() == 120)
    assert view.legend.needed_height(view.contentsRect().width()) > 120 // 3
    assert not view.legend.isVisible() and view.viewportMargins().bottom() == 0
    view.resize(width, 700)
    qtbot.waitUntil(lambda: view.legend.isVisible())
    needed = view.legend.needed_height(view.contentsRect().width())
    assert view.viewportMargins().bottom() == needed and 0 < needed <= view.height() // 3


def test_a_collapsed_residual_block_shows_its_shortcut(view):
    view.set_summary(summary("resnet152"))
    for name in ("layer1", "layer3"):
        item = view.node_item(name)
        assert item.node.residual and item.boundingRect().right() > item.rect.right() + 10  # room for the bracket
    assert not view.node_item("conv1…maxpool").node.residual
    assert "shortcut" in view.legend.content.labels


def test_mark_nodes_highlights_and_clears(view):
    view.set_summary(summary("resnet152"))
    view.mark_nodes({"layer2.3.conv2"}, {"layer2.3.bn2", "layer4.0.conv1", "fc"})
    assert view.marks() == {"layer2": "changed", "layer4": "affected", "avgpool…fc": "affected"}
    assert view.node_item("layer2").mark == "changed" and view.node_item("layer1").mark is None
    assert {"changed", "affected"} <= set(view.legend.content.labels)
    view.expand("layer2.3")  # the marks follow the folding
    assert view.node_item("layer2.3.conv2").mark == "changed" and view.node_item("layer2.3.bn2").mark == "affected"
    view.mark_nodes(set(), set())
    assert not view.marks() and all(item.mark is None for item in view.scene().nodes.values())
    assert "changed" not in view.legend.content.labels


def test_save_image_has_the_models_name_and_the_whole_legend(view, tmp_path):
    view.set_summary(summary("googlenet"))
    view.select("inception4a…inception4e")
    png, svg = tmp_path / "graph.png", tmp_path / "graph.svg"
    view.save_image(png)
    view.save_image(svg)
    assert png.read_bytes().startswith(b"\x89PNG") and png.stat().st_size > 10_000
    text = svg.read_text()
    assert "<svg" in text and "inception4a–4e" in text
    assert "GoogLeNet" in text and "input 3×224×224" in text  # the title
    for entry in view.legend.content.labels:
        assert entry in text
    image = QImage(str(png))
    from explorer.gui.widgets.graph_view.legend import legend_size

    key = legend_size(view.legend.content, view._theme, 10_000)  # the legend on one line
    assert image.width() / 2 >= min(key.width(), view.scene().graph_rect.width())
    assert view.selected() == "inception4a…inception4e"  # the export leaves the selection alone


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
    item = view.node_item("c3")  # and so do the cards: the middle of one, right of its text
    card = item.mapRectToScene(item.rect)
    lightness = [
        image.pixelColor(x, y).lightness() for x in range(0, image.width(), 4) for y in range(0, image.height(), 4)
    ]
    assert sum(lightness) / len(lightness) < 80 and card.width() > 0


def test_view_options_are_remembered_by_the_main_window(window, qtbot, settings):
    from explorer.gui.main_window import MainWindow

    assert window.graph_view.direction == TOP_DOWN and window.graph_view.fold_repeats and window.graph_view.edge_labels
    window.left_right_action.setChecked(True)
    window.fold_repeats_action.setChecked(False)
    assert window.graph_view.direction == LEFT_RIGHT and not window.graph_view.fold_repeats
    again = MainWindow(settings)
    qtbot.addWidget(again)
    assert again.graph_view.direction == LEFT_RIGHT and not again.graph_view.fold_repeats
    assert again.left_right_action.isChecked() and again.edge_shapes_action.isChecked()
    again.wait_idle()


def test_painting_leaves_none_alone(view):
    """Painting from Python must not take references from None (PySide6 6.12.0 did, once per
    void call; on Python 3.11 the process then aborted after enough frames)."""
    view.set_summary(summary("resnet50"))
    view.expand_all()
    view._set_scale(1.0)
    view.viewport().repaint()
    before = sys.getrefcount(None)
    for _ in range(10):
        view.viewport().repaint()
    assert sys.getrefcount(None) >= before - 50  # a frame paints hundreds of items, each many calls


@pytest.mark.parametrize("model", ["resnet152", "efficientnet_lite0", "vit_b_16"])
def test_hierarchy_without_repeats_is_the_one_built_without(model):
    from explorer.gui.widgets.graph_view.hierarchy import hierarchy_of, without_repeats

    graph = summary(model).graph
    assert without_repeats(build_hierarchy(graph)) == build_hierarchy(graph, repeats=False)
    assert hierarchy_of(graph) is hierarchy_of(graph)  # built once per graph (by the analysis worker)


def test_far_out_one_overview_paints_the_graph_and_clicks_still_select(view, qtbot):
    view.set_summary(summary("resnet152"))
    view.expand_all()
    view.fit()
    scene = view.scene()
    assert scene.far and scene.overview.isVisible()
    assert not any(item.isVisible() for item in scene.nodes.values())  # the overview draws them
    target = view.node_item("layer2.3.conv2")
    with qtbot.waitSignal(view.nodeSelected, timeout=1000) as signal:
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.mapFromScene(target.scenePos()))
    assert signal.args == ["layer2.3.conv2"] and target.isVisible() and target.isSelected()
    view.focus_on("layer2.3.conv2")
    assert not scene.far and not scene.overview.isVisible() and all(i.isVisible() for i in scene.nodes.values())

"""The layer graph: exact shape rules against the meta device, and fx against op recording."""

from __future__ import annotations

import pytest
import torch

from explorer.core import graph as graph_module
from explorer.core.analysis import _cached_model, analyze
from explorer.core.graph import GraphBuildError, LayerGraph, build_graph, graph_by_recording, graph_from_fx, trace
from explorer.core.zoo import zoo_specs

ZOO = [spec.name for spec in zoo_specs()]


def _meta_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Switch the exact shape rules off, so every node runs on the meta device."""
    monkeypatch.setattr(graph_module, "module_output_shape", lambda *a, **k: None)
    monkeypatch.setattr(graph_module, "function_output_shape", lambda *a, **k: None)


def _signature(graph: LayerGraph) -> list[tuple]:
    return [(n.name, n.op, n.kind, n.inputs, n.input_shapes, n.output_shape, n.parameters) for n in graph.nodes]


@pytest.mark.parametrize("name", ZOO)
@pytest.mark.parametrize("mode", ["eval", "train"])
def test_shape_rules_match_the_meta_device(name: str, mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    model, traced = _cached_model(name, mode)
    spec_shape = analyze(name).input_shape
    # The default input and an odd-sized one (floors, ceil_mode, SAME padding all show there).
    odd = (spec_shape[0], spec_shape[1] + 13, spec_shape[2] + 7)
    for shape in (spec_shape, odd):
        x = torch.empty((1, *shape), device="meta")
        results = []
        for rules in (True, False):
            with monkeypatch.context() as patch:
                if not rules:
                    _meta_only(patch)
                try:
                    results.append(_signature(graph_from_fx(model, traced, x)))
                except GraphBuildError as error:  # LeNet's F6 only fits 32×32: both must fail alike
                    results.append(("error", error.node))
        assert results[0] == results[1]


@pytest.mark.parametrize("name", ["alexnet", "alexnet_2gpu", "googlenet", "resnet18", "efficientnet_b0", "efficientnet_lite0", "lenet5"])
def test_recording_gives_the_same_graph_as_fx(name: str) -> None:
    model, traced = _cached_model(name, "eval")
    shape = analyze(name).input_shape
    x = torch.empty((1, *shape), device="meta")
    fx_graph = graph_from_fx(model, traced, x)
    recorded = graph_by_recording(model, x)
    assert recorded.method == "recorded"
    assert [(n.name, n.op, n.inputs, n.output_shape) for n in recorded.nodes] == [
        (n.name, n.op, n.inputs, n.output_shape) for n in fx_graph.nodes
    ]


def test_node_paths_support_grouping_by_nesting() -> None:
    graph = analyze("googlenet").graph
    branch = [n.name for n in graph.nodes_under("inception3a.branch2")]
    assert branch == [
        "inception3a.branch2.0.conv", "inception3a.branch2.0.bn", "inception3a.branch2.0.relu",
        "inception3a.branch2.1.conv", "inception3a.branch2.1.bn", "inception3a.branch2.1.relu",
    ]  # fmt: skip
    paths = graph.module_paths()
    assert "inception3a" in paths and "inception3a.branch2" in paths
    assert paths.index("inception3a") < paths.index("inception3a.branch2")
    resnet = analyze("resnet50").graph
    assert resnet.node("layer1.0.add").scope == "layer1.0"
    assert set(resnet.successors("layer1.0.relu:3")) == {"layer1.1.conv1", "layer1.1.add"}
    assert ("layer1.0.downsample.1", "layer1.0.add") in resnet.edges


def test_shared_module_calls_are_separate_nodes_counted_once() -> None:
    graph = analyze("resnet18").graph
    relus = [n for n in graph.nodes if n.module_path == "layer1.0.relu"]
    assert [(n.name, n.call_index) for n in relus] == [("layer1.0.relu", 1), ("layer1.0.relu:2", 2)]


def test_build_graph_on_a_cpu_model_allocates_nothing_new() -> None:
    import torchvision

    model = torchvision.models.resnet18().eval()
    before = {name: p.data_ptr() for name, p in model.named_parameters()}
    graph = build_graph(model, (3, 224, 224), traced=trace(model))
    assert graph.method == "fx"
    assert graph.nodes[-1].output_shape == (1000,)
    assert {name: p.data_ptr() for name, p in model.named_parameters()} == before

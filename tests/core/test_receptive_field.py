"""The receptive field measured by gradients, against the tool's, on every zoo model.

For one output unit of a node, the input pixels whose gradient is non-zero are the unit's
receptive field (its bounding box). The measurement runs each network's own fx graph, traced
from its torchvision (or zoo) code, on the CPU in float64, with its parameters set so that no
gradient can cancel or vanish:

- every convolution averages its window with one positive weight and no bias;
- BatchNorm, LRN, dropout, stochastic depth and every activation module become the identity
  (on the positive values that flow, a functional ReLU is the identity already);
- max-pooling becomes average pooling of the same geometry (a max sends the gradient to one
  pixel per window); adaptive max-pooling likewise.

With all weights of a convolution equal, all its output channels are equal too, so each tensor
carries one channel per distinct branch: every convolution is given a single output channel
(the channel count does not move a field; ``test_one_channel_is_the_full_width_field`` checks
that on GoogLeNet). That makes the 300-odd backward passes of ResNet-152 cheap.

Each conv, pool and merge node (every Inception branch and cat, every residual add, every
squeeze-excitation gate) is compared with ``features.receptive_box``, i.e. the tool's field,
jump and start, on a unit whose field lies inside the image where one does (else on the first
and the last unit, where the image clips both boxes alike). Gates are compared twice: with the
gate's input detached, the spatial path must give the tool's field; with it live, the node (and
every node after it) must see the whole image, as its ``gate`` says.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import fx, nn
from zoo_inputs import ZOO, sizes

from explorer.core import analyze
from explorer.core.analysis import build_on_meta
from explorer.core.features import receptive_box
from explorer.core.graph import fx_layer_names, trace
from explorer.core.layers import module_kind
from explorer.core.report import GATE_LEGEND, render_table
from explorer.core.stats import LayerStats, ModelSummary
from explorer.core.zoo import get_spec

MEASURED_KINDS = {"conv", "pool", "merge"}


class _AveragingConv:
    """A forward pre-hook: the first call gives the conv one averaging output channel (float64)."""

    def __init__(self, *, one_channel: bool) -> None:
        self.one_channel = one_channel

    def __call__(self, conv: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        channels = args[0].shape[1]
        if self.one_channel:
            conv.groups, conv.in_channels, conv.out_channels = 1, channels, 1
        per_group = channels // conv.groups
        shape = (conv.out_channels, per_group, *conv.kernel_size)
        fan_in = per_group * int(np.prod(conv.kernel_size))
        conv.weight = nn.Parameter(torch.full(shape, 1.0 / fan_in, dtype=torch.float64), requires_grad=False)
        conv.bias = None


class _UnitGate(nn.Module):
    """A gate's sigmoid as x / x: the value 1 (an identity sigmoid would square the scale at every
    squeeze-excitation block, until it overflows), the gradient 1/x > 0 (it still reaches the image)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x / x.detach()


def _replace(model: nn.Module, path: str, module: nn.Module) -> None:
    parent, _, attribute = path.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, attribute, module)


def _measuring_model(name: str, mode: str, *, one_channel: bool = True) -> nn.Module:
    """The zoo model with the weights and layers described in the module docstring."""
    spec = get_spec(name)
    model = build_on_meta(spec)
    leaves = [(path, m) for path, m in model.named_modules() if next(iter(m.children()), None) is None]
    handled = (nn.modules.conv._ConvNd, nn.Linear, nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)
    custom = [m for _, m in leaves if not isinstance(m, handled) and any(True for _ in [*m.parameters(), *m.buffers()])]
    if custom:  # LeNet-5's own layers: its real weights, made positive, at full width
        model, one_channel = spec.build(), False
        leaves = [(path, m) for path, m in model.named_modules() if next(iter(m.children()), None) is None]
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.copy_(parameter.abs() + 0.01)
        model = model.double()
    model.train(mode == "train")
    for path, module in leaves:
        kind = module_kind(module)
        if isinstance(module, nn.modules.conv._ConvNd) and not module.transposed:
            module.register_forward_pre_hook(_AveragingConv(one_channel=one_channel))
        elif isinstance(module, nn.MaxPool2d):
            assert module.dilation in (1, (1, 1)), f"{path}: a dilated max-pool has no average twin"
            _replace(model, path, nn.AvgPool2d(module.kernel_size, module.stride, module.padding, ceil_mode=module.ceil_mode))
        elif isinstance(module, nn.AdaptiveMaxPool2d):
            _replace(model, path, nn.AdaptiveAvgPool2d(module.output_size))
        elif isinstance(module, (nn.Sigmoid, nn.Hardsigmoid)):
            _replace(model, path, _UnitGate())
        elif kind in {"norm", "activation", "dropout"} and type(module).__module__.startswith(("torch", "torchvision")):
            _replace(model, path, nn.Identity())
    return model


class _Capture:
    """The model's fx graph (gates' broadcast inputs detached if asked), cut after the nodes asked for."""

    def __init__(self, model: nn.Module, summary: ModelSummary, detach_gates: bool) -> None:
        self.model = model
        self.graph = trace(model)
        meta = torch.empty((1, *summary.input_shape), device="meta")
        fx_names = {layer: node for node, layer in fx_layer_names(model, self.graph, meta).items()}
        by_name = {node.name: node for node in self.graph.nodes}
        self.nodes = {layer: by_name[name] for layer, name in fx_names.items()}
        if detach_gates:
            for row in summary.layers:
                if row.gate != row.name:
                    continue
                mul = self.nodes[row.name]
                for source in row.inputs:
                    if summary.layer(source).output_shape[1:] != row.output_shape[1:]:  # the broadcast scale
                        with self.graph.inserting_before(mul):
                            detached = self.graph.call_method("detach", (self.nodes[source],))
                        mul.replace_input_with(self.nodes[source], detached)

    def module_for(self, layers: list[str]) -> fx.GraphModule:
        """Returns {layer: a copy of its output}; nothing after the last of ``layers`` runs."""
        graph = fx.Graph()
        copies: dict[fx.Node, fx.Node] = {}
        wanted = {self.nodes[layer]: layer for layer in layers}
        returned: dict[str, fx.Node] = {}
        for node in self.graph.nodes:
            if node.op == "output":
                break
            copies[node] = graph.node_copy(node, lambda n: copies[n])
            if node in wanted:
                returned[wanted.pop(node)] = graph.call_method("clone", (copies[node],))
                if not wanted:
                    break
        graph.output(returned)
        module = fx.GraphModule(self.model, graph)
        module.graph.eliminate_dead_code()
        module.recompile()
        return module


def _units(row: LayerStats, spatial: tuple[int, int], image: tuple[int, int]) -> list[tuple[int, int]]:
    """A unit whose field lies inside the image, per axis, else the first and the last unit."""
    per_axis = []
    for axis, (count, extent) in enumerate(zip(spatial, image)):
        inside = [i for i in range(count) if row.unit_interval(axis, i)[0] >= 0 and row.unit_interval(axis, i)[1] <= extent]
        per_axis.append(inside[:1] or sorted({0, count - 1}))
    rows, cols = per_axis
    return [(rows[k % len(rows)], cols[k % len(cols)]) for k in range(max(len(rows), len(cols)))]


PROBES_PER_PASS = 48  # samples in one batched forward/backward (memory stays under ~200 MB)


def _measured_boxes(capture: _Capture, shape: tuple[int, ...], probes: list[tuple[str, int, int]]) -> list[tuple[int, int, int, int]]:
    """For each (layer, row, col), the bounding box of the input pixels with a non-zero gradient.

    Probe b reads its unit from sample b of one batched pass: nothing mixes samples (no BatchNorm
    is left), so one backward gives every probe's gradient in its own sample. Probes come in
    graph order, so each pass runs the network only as far as its deepest probe.
    """
    boxes = []
    for first in range(0, len(probes), PROBES_PER_PASS):
        chunk = probes[first : first + PROBES_PER_PASS]
        module = capture.module_for(list(dict.fromkeys(layer for layer, _, _ in chunk)))
        x = torch.ones((len(chunk), *shape), dtype=torch.float64, requires_grad=True)
        outputs = module(x)
        total = sum(outputs[layer][b, :, r, c].sum() for b, (layer, r, c) in enumerate(chunk))
        (gradient,) = torch.autograd.grad(total, x)
        seen = gradient.abs().sum(1)
        assert torch.isfinite(seen).all(), "the measurement overflowed"
        for sample in seen.numpy():
            rows, cols = np.nonzero(sample)
            boxes.append((int(rows.min()), int(cols.min()), int(rows.max()), int(cols.max())))
    return boxes


def measure(name: str, shape: tuple[int, int, int], mode: str = "eval", *, one_channel: bool = True, only: set[str] | None = None) -> int:
    """Compare every conv, pool and merge node's field with the gradient's. Returns how many units."""
    summary = analyze(name, shape, mode)
    image = shape[1:]
    wanted = [
        row.name for row in summary.layers
        if row.kind in MEASURED_KINDS and len(row.output_shape) == 3 and (only is None or row.name in only)
    ]  # fmt: skip
    has_gates = any(row.gate == row.name for row in summary.layers)
    compared = 0
    for live_gates in ([False, True] if has_gates else [False]):
        model = _measuring_model(name, mode, one_channel=one_channel)
        capture = _Capture(model, summary, detach_gates=not live_gates)
        probes, expected = [], []
        for layer in wanted:
            row = summary.layer(layer)
            if live_gates and row.gate is None:
                continue
            units = _units(row, row.output_shape[1:], image)
            for r, c in units[:1] if live_gates else units:  # through a gate any unit sees everything
                probes.append((layer, r, c))
                # Through a live gate a unit sees the whole image; else what the tool says.
                expected.append((0, 0, image[0] - 1, image[1] - 1) if live_gates else receptive_box(row, r, c, image))
        measured = _measured_boxes(capture, shape, probes)
        for (layer, r, c), tool, box in zip(probes, expected, measured):
            gate = " through its gate" if live_gates else ""
            assert box == tool, f"{name} {shape} {mode} {layer} ({r}, {c}){gate}: measured {box}, tool {tool}"
        compared += len(probes)
    return compared


@pytest.mark.parametrize("name", ZOO)
def test_receptive_field_matches_the_gradient(name: str) -> None:
    for shape in sizes(name):
        assert measure(name, shape) > 0


def test_googlenet_train_mode_auxiliary_pools() -> None:
    """aux1/aux2 pool 14×14 to 4×4: windows 4 wide at 0, 3, 7, 10 (the old rule said 5 wide)."""
    summary = analyze("googlenet", mode="train")
    pool = summary.layer("aux1.adaptive_avg_pool2d")
    assert pool.receptive_field_hw == (155, 155)
    measure("googlenet", (3, 224, 224), "train", only={"aux1.adaptive_avg_pool2d", "aux1.conv.conv", "aux2.adaptive_avg_pool2d"})


def test_one_channel_is_the_full_width_field() -> None:
    """The single-channel measurement agrees with the real widths (GoogLeNet's inception3a, 4a)."""
    names = {n.name for n in analyze("googlenet", (3, 97, 131)).graph.nodes if n.scope.startswith(("inception3a", "inception4a"))}
    full = measure("googlenet", (3, 97, 131), one_channel=False, only=names)
    assert full == measure("googlenet", (3, 97, 131), one_channel=True, only=names) > 20


def test_the_issues_examples() -> None:
    """The four kinds of node issue 9 found wrong."""
    b0 = analyze("efficientnet_b0")
    row = b0.layer("features.2.0.block.1.0")
    assert (row.receptive_field_hw, row.jump_hw) == ((11, 11), (4, 4))  # was 677 px, jump 448
    assert row.gate == "features.1.0.block.1.mul"
    assert b0.layers[-1].receptive_field < 2000  # was about 8×10²¹ px
    vgg = analyze("vgg16", (3, 97, 131)).layer("avgpool")  # 3×4 → 7×7: larger than its input
    before = analyze("vgg16", (3, 97, 131)).layer("features.30")
    assert all(a >= b for a, b in zip(vgg.receptive_field_hw, before.receptive_field_hw))  # never shrinks
    cat = analyze("googlenet").layer("inception3a.cat")
    assert cat.formula("receptive field").startswith("RF = max(27, 43, 43, 43) = 43 px; jump = 8")
    table = render_table(b0)
    assert GATE_LEGEND in table and any(line.startswith("features.2.0.block.1.0 ") and " 11* " in line for line in table.splitlines())
    data = {layer["name"]: layer for layer in b0.to_dict()["layers"]}
    assert data["features.2.0.block.1.0"]["gate"] == "features.1.0.block.1.mul"
    assert data["features.0.0"]["gate"] is None
    for name in ("mobilenet_v3_small", "regnet_y_400mf", "efficientnet_v2_s"):  # the others issue 9 names
        last = analyze(name).layers[-1]
        assert last.gate is not None and last.receptive_field < 2000, (name, last.receptive_field)
    resnet = analyze("resnet50", (3, 97, 131)).layer("avgpool")
    assert resnet.receptive_field_hw == (523, 555)
    assert "523 px" in resnet.formula("receptive field") and "555 px" in resnet.formula("receptive field")

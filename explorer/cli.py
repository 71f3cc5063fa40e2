"""``cnn-explorer``: the command line. Every subcommand calls the core; user errors exit 2 with no traceback."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from explorer.core.runner import Classification, ModelRunner
    from explorer.core.stats import ModelSummary
    from explorer.core.weights import LoadedWeights


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cnn-explorer",
        description="See inside the classic convolutional networks.",
    )
    from explorer import __version__
    from explorer.core.convention_names import CONVENTION_NAMES, DEFAULT_CONVENTION

    parser.add_argument("--version", action="version", version=f"cnn-explorer {__version__}")
    parser.add_argument(
        "--install-desktop-entry", action="store_true",
        help="add cnn-explorer to the desktop's application menu (user-level XDG paths) and exit",
    )  # fmt: skip
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    gui = commands.add_parser("gui", help="open the desktop app (the default command)")
    gui.add_argument("--model", help="the model to open")
    gui.add_argument("--input", help="input shape C×H×W")
    gui.add_argument("--mode", choices=("eval", "train"), default="eval")
    gui.add_argument(
        "--view",
        choices=("graph", "table", "charts", "compare", "classify", "features", "explain", "whatif", "lessons", "reconcile"),
        default="graph",
    )
    gui.add_argument("--convention", choices=CONVENTION_NAMES, help="count MACs and FLOPs as this tool does")
    gui.add_argument("--image", nargs="+", default=[], metavar="PATH", help="images for --view classify or features (default: the samples)")
    gui.add_argument("--compare", metavar="MODEL2", help="second model of the compare view")
    gui.add_argument("--select", metavar="LAYER", help="select a layer or block")
    gui.add_argument("--expand", metavar="all|PATHS", help="expand all blocks, or the comma-separated module paths")
    gui.add_argument("--lesson", metavar="NAME", help="--view whatif: open a lesson's experiment (cnn-explorer lesson lists them)")
    gui.add_argument("--edit", action="append", default=[], metavar="LAYER.FIELD=VALUE", help="--view whatif: type an edit into the Edit panel and apply it")
    gui.add_argument("--edits", type=Path, metavar="FILE.json", help="--view whatif: open an edit file")
    gui.add_argument("--method", metavar="M[,M2]", help="--view explain: the methods of the panes (gradcam, guided, saliency, occlusion)")
    gui.add_argument("--at", metavar="Y,X", help="--view features: open the strongest channel and click this position")
    gui.add_argument("--screenshot", metavar="FILE.png", type=Path, help="render the window offscreen to FILE and exit")
    gui.add_argument("--size", default="1600x1000", help="window size for --screenshot, WxH")
    gui.add_argument("--graph-layout", choices=("top-down", "left-right"), help="lay the graph out this way (else as last time)")
    add_timeout_option(gui)

    models = commands.add_parser("models", help="list the model zoo and torchvision's classification models")
    models.add_argument("--json", action="store_true", help="machine-readable output")
    models.add_argument("--zoo", action="store_true", help="only the curated zoo, not 'More (torchvision)'")

    summary = commands.add_parser("summary", help="per-layer shapes, params, MACs/FLOPs, memory, receptive field")
    summary.add_argument("model", help="zoo or torchvision name, or path/to/file.py:factory")
    summary.add_argument("--input", help="input shape C×H×W, e.g. 3x227x227 (default: the model's)")
    summary.add_argument("--mode", choices=("eval", "train"), default="eval")
    summary.add_argument("--format", choices=("table", "csv", "markdown", "json"), default="table")
    summary.add_argument("--formulas", action="store_true", help="print each layer's formulas (table format)")
    summary.add_argument(
        "--convention", choices=CONVENTION_NAMES, default=DEFAULT_CONVENTION,
        help="whose counting rules the MACs and FLOPs follow (default: lecture)",
    )  # fmt: skip
    add_timeout_option(summary)

    reconcile = commands.add_parser(
        "reconcile",
        help="why do the numbers differ? the paper, torchvision's _ops and every convention's total, side by side",
    )
    reconcile.add_argument("model", help="zoo or torchvision name, or path/to/file.py:factory")
    reconcile.add_argument("--input", help="input shape C×H×W (default: the model's)")
    reconcile.add_argument("--mode", choices=("eval", "train"), default="eval")
    reconcile.add_argument("--format", choices=("table", "markdown", "json"), default="table")
    add_timeout_option(reconcile)

    export = commands.add_parser("export", help="export models to ONNX, checked against onnxruntime")
    export.add_argument("models", nargs="+", metavar="MODEL")
    export.add_argument("--out", required=True, metavar="DIR", help="an existing, writable folder")
    export.add_argument("--opset", type=int, default=18)
    export.add_argument("--input", help="input shape C×H×W (default: each model's)")
    export.add_argument("--dynamic-batch", action="store_true", help="a dynamic batch dimension")
    export.add_argument(
        "--weights", default="default", metavar="pretrained|untrained|FILE",
        help="default: the best weights available offline (embedded, cached torchvision, else untrained)",
    )  # fmt: skip
    export.add_argument("--no-verify", action="store_true", help="skip onnx.checker and the onnxruntime comparison")
    export.add_argument("--json", action="store_true")
    add_timeout_option(export)

    classify = commands.add_parser(
        "classify",
        help="top-k ImageNet classes of images (default model: efficientnet_lite0, embedded weights)",
        description="Classify images. MODEL defaults to efficientnet_lite0; folders are expanded to their images.",
    )
    classify.add_argument(
        "inputs", nargs="+", metavar="[MODEL] IMAGE", help="a model name (optional), then images or folders"
    )
    classify.add_argument("--top", type=int, default=5, metavar="K", help="how many classes per image (default 5)")
    classify.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto")
    classify.add_argument("--weights", metavar="FILE", help="a .pth/.pt state dict or .safetensors file")
    classify.add_argument("--batch-size", type=int, default=8, metavar="N", help="images per forward pass (default 8)")
    classify.add_argument("--json", action="store_true", help="machine-readable output")
    add_timeout_option(classify)
    features = commands.add_parser(
        "features",
        help="capture layers' feature maps on an image: per-channel statistics and PNG channel grids",
        description="Capture the activations of LAYERS (graph node names, or an Inception module / residual "
        "block for all its branches) on IMAGE in one forward pass.",
    )
    features.add_argument("model", help="zoo or torchvision name, or path/to/file.py:factory")
    features.add_argument("image", help="an image file")
    features.add_argument("--layers", required=True, metavar="L1,L2", help="comma-separated node names or blocks")
    features.add_argument("--out", metavar="DIR", type=Path, help="write one PNG channel grid per layer into DIR")
    features.add_argument(
        "--weights", metavar="pretrained|untrained|KEY|FILE",
        help="default: the model's pretrained weights (downloaded if need be), else untrained",
    )  # fmt: skip
    features.add_argument("--normalise", choices=("channel", "layer"), default="channel", help="grid colour scale")
    features.add_argument("--sort", action="store_true", help="grid: strongest channels (by mean) first")
    features.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto")
    features.add_argument("--json", action="store_true", help="per layer: layer, shape and every channel's statistics")
    add_timeout_option(features)

    whatif = commands.add_parser(
        "whatif",
        help="edit layers (kernel, stride, channels…), swap or remove blocks, and see every number change",
        description="Apply edits, in the order given, to a copy of MODEL and print the per-layer diff and the "
        "totals. Layers that no longer fit what they receive (the next conv's in_channels, BatchNorm, a linear "
        "after a flatten) are rebuilt to fit and listed as propagated.",
    )
    whatif.add_argument("model", nargs="?", help="zoo or torchvision name, or path/to/file.py:factory (default: the --edits file's)")
    whatif.add_argument("--set", dest="edits", action=_EditAction, metavar="LAYER.FIELD=VALUE",
                        help="e.g. features.0.kernel_size=7, layer1.0.conv2.out_channels=96, features.3.groups=2")  # fmt: skip
    whatif.add_argument("--replace", dest="edits", action=_EditAction, metavar="LAYER=TYPE[:OPTS][+TYPE…]",
                        help="e.g. c3=conv:out=16,k=5 or avgpool=flatten+linear:out_features=1024; types: "
                        "conv, linear, bn, relu, maxpool, avgpool, gap, flatten, dropout, identity, lrn, basic_block, bottleneck")  # fmt: skip
    whatif.add_argument("--remove", dest="edits", action=_EditAction, metavar="LAYER",
                        help="a module (bypassed), a branch into a cat (dropped from it) or an add/mul (its shortcut goes)")  # fmt: skip
    whatif.add_argument("--set-input", dest="edits", action=_EditAction, metavar="CxHxW", help="change the input shape")
    whatif.add_argument("--input", help="input shape C×H×W of both sides (default: the model's)")
    whatif.add_argument("--mode", choices=("eval", "train"), default=None, help="default: eval, or the --edits file's")
    whatif.add_argument("--edits", dest="edit_file", type=Path, metavar="FILE.json", help="start from a saved edit file")
    whatif.add_argument("--save", type=Path, metavar="FILE.json", help="write the edits to an edit file")
    whatif.add_argument("--format", choices=("table", "json"), default="table")
    whatif.add_argument(
        "--convention", choices=CONVENTION_NAMES, default=DEFAULT_CONVENTION,
        help="whose counting rules the MACs and FLOPs of both sides follow (default: lecture)",
    )  # fmt: skip
    whatif.add_argument("--all", action="store_true", help="list every layer, not only those that changed")
    whatif.add_argument("--export", type=Path, metavar="DIR", help="also export the edited model to DIR/MODEL-edited.onnx")
    whatif.add_argument("--weights", default="default", metavar="default|pretrained|untrained|FILE",
                        help="weights of the exported model: pretrained where a layer keeps its shape, new layers initialised")  # fmt: skip
    add_timeout_option(whatif)

    lesson = commands.add_parser(
        "lesson",
        help="the seeds' lessons as live experiments: list them, or run one",
        description="The seeds' lessons, each a what-if experiment. Their numbers follow the lecture's convention "
        "(MACs without bias, the seed's table), the one the claims are stated in.",
    )
    lesson.add_argument("name", nargs="?", help="a lesson (without it: the list)")
    lesson.add_argument("--json", action="store_true")
    _add_explain_commands(commands)  # issue 14: explain, erf

    commands.add_parser(
        "doctor",
        help="check the Qt platform plugin and its system libraries, torch, CUDA and the cache folders",
        description="Check what cnn-explorer needs on this machine and say what is missing (exit 1 if something is).",
    )
    return parser


def add_timeout_option(parser: argparse.ArgumentParser) -> None:
    """``--timeout SECONDS``: the time limit for a user model's own code (commands that take a MODEL)."""
    from explorer.core.usercode import DEFAULT_TIME_LIMIT_S

    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIME_LIMIT_S, metavar="SECONDS",
        help=f"time limit for each call into a user model's code (file.py:factory); 0: none (default {DEFAULT_TIME_LIMIT_S:g})",
    )  # fmt: skip


class _EditAction(argparse.Action):
    """--set/--replace/--remove/--set-input all append to one list, so the edits keep their order."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object, option: str | None = None) -> None:
        edits = list(getattr(namespace, self.dest, None) or [])
        edits.append((option, values))
        setattr(namespace, self.dest, edits)


def _add_explain_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from explorer.core.explain_methods import METHODS  # torch-free: the parser is built before the window

    explain = commands.add_parser(
        "explain",
        help="where the network looked: Grad-CAM, guided Grad-CAM, saliency or occlusion of a class on an image",
        description="Explain one class of MODEL (default efficientnet_lite0) on IMAGE with captum. The map lies "
        "over the crop the network saw; the peak is given in the pixels of the image file.",
    )
    explain.add_argument("inputs", nargs="+", metavar="[MODEL] IMAGE", help="a model name (optional), then one image")
    explain.add_argument("--class", dest="target", default="top1", metavar="top1|INDEX|LABEL",
                         help="the class to explain: top1 (default) … top5, a class index or an ImageNet label")
    explain.add_argument("--method", choices=tuple(METHODS), default="gradcam")
    explain.add_argument("--layer", metavar="NODE", help="Grad-CAM's layer (default: the last convolution stage's output)")
    explain.add_argument("--patch", type=int, metavar="PX", help="occlusion: the patch's side (default: a seventh of the crop)")
    explain.add_argument("--stride", type=int, metavar="PX", help="occlusion: the patch's step (default: half a patch)")
    explain.add_argument("--out", type=Path, metavar="FILE.png", help="write the map over the image as a PNG")
    explain.add_argument("--opacity", type=float, default=0.7, help="the map's opacity in --out (0 to 1, default 0.7)")
    explain.add_argument("--weights", metavar="pretrained|untrained|KEY|FILE",
                         help="default: the model's pretrained weights (downloaded if need be), else untrained")
    explain.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto")
    explain.add_argument("--json", action="store_true", help="class, map shape, min/max, peak (image pixels), …")
    add_timeout_option(explain)

    erf = commands.add_parser(
        "erf",
        help="the effective receptive field of a unit beside its theoretical one",
        description="The gradient of one activation of LAYER (at --at, default the map's centre) with respect to the "
        "input, on IMAGE, and how much of the theoretical receptive field holds 50 % and 90 % of its mass.",
    )
    erf.add_argument("model", help="zoo or torchvision name, or path/to/file.py:factory")
    erf.add_argument("image", help="an image file")
    erf.add_argument("--layer", required=True, metavar="NODE", help="a node with a spatial map (as `summary` lists them)")
    erf.add_argument("--at", metavar="Y,X", help="the unit's row and column in the layer's map (default: the centre)")
    erf.add_argument("--channel", type=int, metavar="C", help="one channel (default: the sum over the channels)")
    erf.add_argument("--out", type=Path, metavar="FILE.png", help="write the field over the crop as a PNG")
    erf.add_argument("--weights", metavar="pretrained|untrained|KEY|FILE",
                     help="default: the model's pretrained weights (downloaded if need be), else untrained")
    erf.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto")
    erf.add_argument("--json", action="store_true", help="theoretical box, support, 50 % / 90 % mass fractions, …")
    add_timeout_option(erf)


def _run_with_progress(generator: Any, describe: Callable[[Any], str | None] = lambda _event: None, *, inline: bool = True) -> Any:
    """Run a core progress generator to its end and return its value: the CLI's one way to do it.

    On a terminal each event that ``describe`` turns into text goes to stderr: ``inline`` rewrites
    one line (downloads, occlusion), else one line per event (export's models).
    """
    shown = False
    while True:
        try:
            event = next(generator)
        except StopIteration as stop:
            if shown and inline:
                print(file=sys.stderr)
            return stop.value
        text = describe(event) if sys.stderr.isatty() else None
        if text:
            print(f"\r{text}" if inline else text, end="" if inline else "\n", file=sys.stderr, flush=True)
            shown = True


def _many_steps(progress: Any) -> str | None:
    """Occlusion's patches and the like; a one-step job says nothing."""
    return progress.message if progress.total > 1 else None


def _load_with_progress(runner: ModelRunner, model: str, weights: str) -> LoadedWeights:
    """``runner.load`` allowing a download (progress on a terminal), else untrained."""
    loading = runner.load(model, weights, allow_download=True, fallback_untrained=True)
    return _run_with_progress(loading, lambda progress: progress.message if progress.stage == "download" else None)


def _cmd_models(args: argparse.Namespace) -> int:
    from explorer.core.zoo import list_specs

    specs = list_specs(include_torchvision=not args.zoo)
    if args.json:
        rows = [
            {
                "name": s.name,
                "family": s.family,
                "title": s.title,
                "year": s.year,
                "paper": s.paper.title if s.paper else None,
                "input_shape": list(s.input_shape),
                "weights": [w.name for w in s.weight_sources],
                "notes": s.notes,
                "paper_differences": s.paper_differences,
            }
            for s in specs
        ]
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    family = None
    for spec in specs:
        if spec.family != family:
            family = spec.family
            print(f"\n{family}")
        year = f" ({spec.year})" if spec.year else ""
        weights = "pretrained: embedded" if any(w.kind == "embedded" for w in spec.weight_sources) else (
            "pretrained: torchvision" if spec.weight_sources else "untrained"
        )
        shape = "×".join(map(str, spec.input_shape))
        print(f"  {spec.name:<22} {spec.title}{year} · input {shape} · {weights}")
    return 0


def _cmd_summary(args: argparse.Namespace) -> int:
    from explorer.core.analysis import analyze
    from explorer.core.report import render

    summary = analyze(args.model, args.input, args.mode, convention=args.convention)
    sys.stdout.write(render(summary, args.format))
    if args.formulas and args.format == "table":
        for row in summary.layers:
            print(f"\n{row.name} ({row.type})")
            for formula in row.formulas:
                print(f"  {formula.quantity:<16} {formula.expression}")
    return 0


def _cmd_reconcile(args: argparse.Namespace) -> int:
    from explorer.core.analysis import analyze
    from explorer.core.reconcile import reconcile, render_reconciliation, render_reconciliation_markdown

    reconciliation = reconcile(analyze(args.model, args.input, args.mode))
    if args.format == "json":
        print(json.dumps(reconciliation.to_dict(), indent=2, ensure_ascii=False))
    elif args.format == "markdown":
        sys.stdout.write(render_reconciliation_markdown(reconciliation))
    else:
        sys.stdout.write(render_reconciliation(reconciliation))
    return 0


DEFAULT_CLASSIFIER = "efficientnet_lite0"


def _split_model_and_images(inputs: list[str]) -> tuple[str, list[str]]:
    """``[MODEL] IMAGE...``: the first word is a model unless it is not one.

    A first word that is no model is an image (a missing one gets its own error entry), unless
    it looks like a misspelt model name (close matches exist and it is neither a path nor has
    a suffix): then the call fails with "Did you mean…".
    """
    from explorer.core.errors import ExplorerError
    from explorer.core.usercode import is_user_reference
    from explorer.core.zoo import get_spec

    first, rest = inputs[0], inputs[1:]
    try:
        get_spec(first)
    except ExplorerError as error:
        if is_user_reference(first) and rest:
            raise  # file.py:factory is a model: its own error (cannot import, no factory…), not "not an image"
        looks_like_a_path = Path(first).exists() or bool(Path(first).suffix) or "/" in first or os.sep in first
        misspelt_model = bool(error.hint and error.hint.startswith("Did you mean"))
        if looks_like_a_path or not misspelt_model:
            return DEFAULT_CLASSIFIER, inputs
        raise
    if not rest:
        if Path(first).exists():
            return DEFAULT_CLASSIFIER, inputs
        raise ExplorerError(f"No images given: {first} is a model; name the images after it.")
    return first, rest


def _cmd_classify(args: argparse.Namespace) -> int:
    from explorer.core.errors import ExplorerError
    from explorer.core.images import image_files
    from explorer.core.runner import ModelRunner

    if args.top < 1:
        raise ExplorerError(f"--top must be at least 1, not {args.top}.")
    model, inputs = _split_model_and_images(args.inputs)
    images = image_files(inputs)
    if not images:
        raise ExplorerError("No images found in " + ", ".join(inputs) + ".")
    runner = ModelRunner(args.device)
    # Without --weights, the model's best pretrained weights: downloaded if need be, else untrained.
    loaded = _load_with_progress(runner, model, _weights_option(model, args.weights))
    results = runner.classify_all(model, images, weights=loaded.key, top_k=args.top, batch_size=args.batch_size)
    for notice in runner.notices:
        print(f"cnn-explorer: note: {notice}", file=sys.stderr)
    if args.json:
        from explorer.core.console import dumps_json

        print(dumps_json([result.to_dict() for result in results]))
    else:
        sys.stdout.write(_classification_table(results))
    return 1 if any(result.error for result in results) else 0


def _feature_layers(summary: ModelSummary, names: str) -> tuple[list[str], dict[str, str]]:
    """``--layers``: the nodes to capture, and for each module path given its output node.

    A node name stands for itself, an Inception module or residual block for its branch view's
    nodes, and any other module path for its output (``features.select_layer``).
    """
    from explorer.core.errors import ExplorerError
    from explorer.core.features import select_layer

    layers: list[str] = []
    outputs: dict[str, str] = {}
    for name in (n.strip() for n in names.split(",")):
        if not name:
            continue
        selection = select_layer(summary, name)
        layers.extend(selection.nodes)
        if selection.output is not None:
            outputs[selection.output] = name
    if not layers:
        raise ExplorerError("--layers names no layer.")
    return list(dict.fromkeys(layers)), outputs


def _weights_option(model: str, weights: str | None) -> str:
    """``--weights`` of classify, features, explain, erf: a key or file as given; "pretrained" the best
    pretrained option; no flag the best option (pretrained where there is one, else untrained)."""
    from explorer.core.errors import ExplorerError
    from explorer.core.weights import UNTRAINED, weight_options

    options = weight_options(model)
    if weights is None:
        return options[0].key
    if weights != "pretrained":
        return weights
    pretrained = [option.key for option in options if option.key != UNTRAINED]
    if not pretrained:
        raise ExplorerError(f"{model} has no pretrained weights.", hint="Use --weights untrained or a weights file.")
    return pretrained[0]


def _cmd_features(args: argparse.Namespace) -> int:
    from explorer.core.analysis import analyze
    from explorer.core.features import FeatureExtractor, channel_grid
    from explorer.core.images import load_image
    from explorer.core.paths import atomic_write, prepare_output_folder
    from explorer.core.runner import ModelRunner, require_image_model

    summary = analyze(args.model)
    require_image_model(args.model, "features")
    layers, module_outputs = _feature_layers(summary, args.layers)
    load_image(args.image)  # a clear error for a bad image before any model loads
    if args.out is not None:
        prepare_output_folder(args.out)
    runner = ModelRunner(args.device)
    loaded = _load_with_progress(runner, args.model, _weights_option(args.model, args.weights))
    extractor = FeatureExtractor(runner)
    activations = extractor.capture_all(args.model, args.image, layers, weights=loaded.key, summary=summary)
    for notice in runner.notices:
        print(f"cnn-explorer: note: {notice}", file=sys.stderr)
    written: dict[str, Path] = {}
    if args.out is not None:
        stem = Path(args.image).stem
        for layer, activation in activations.items():
            order = activation.order_by_strength() if args.sort else None
            path = args.out / f"{Path(args.model).name.replace(':', '_')}-{layer.replace(':', '_')}-{stem}.png"
            with atomic_write(path) as staged:  # a full disk or a signal leaves the old file, or none
                channel_grid(activation, mode=args.normalise, order=order).save(staged, format="PNG")
            written[layer] = path
    if args.json:
        from explorer.core.console import dumps_json

        print(dumps_json([activation.to_dict() for activation in activations.values()]))
        return 0
    crop = extractor.crop(args.model, args.image, loaded.key)
    print(f"{args.model} ({loaded.label}) on {args.image} (the network saw a {crop.width}×{crop.height} crop)")
    for node, module in module_outputs.items():
        print(f"{module}: the module's output is {node}")
    width = max(len(layer) for layer in activations)
    for layer, activation in activations.items():
        values = activation.values
        zeros = float((values <= 0).mean())
        strongest = ", ".join(str(i) for i in activation.order_by_strength()[:5])
        shape = "×".join(str(d) for d in activation.shape)
        line = (
            f"{layer:<{width}}  {shape:>12}  min {values.min():9.4g}  max {values.max():9.4g}  "
            f"mean {values.mean():9.4g}  ≤0 {zeros:6.1%}  strongest channels {strongest}"
        )
        print(line)
        if layer in written:
            print(f"{'':<{width}}  → {written[layer]}")
    return 0


def _cmd_whatif(args: argparse.Namespace) -> int:
    from explorer.core.edits import EditFile, SetInput, SetLayer, export_edited, parse_remove, parse_replace, parse_set, what_if
    from explorer.core.errors import ExplorerError
    from explorer.core.report import render_whatif

    saved = EditFile.load(args.edit_file) if args.edit_file else None
    model = args.model or (saved.model if saved else None)
    if model is None:
        raise ExplorerError("Name a MODEL (or give --edits FILE.json).")
    if saved is not None and args.model and saved.model != args.model:
        raise ExplorerError(f"{args.edit_file} holds edits for {saved.model}, not {args.model}.")
    from explorer.core.analysis import parse_input_shape

    parsers = {"--set": parse_set, "--replace": parse_replace, "--remove": parse_remove,
               "--set-input": lambda text: SetInput(parse_input_shape(text))}  # fmt: skip
    edits = list(saved.edits if saved else ())
    for option, text in args.edits or []:
        edit = parsers[option](text)
        previous = edits[-1] if edits else None
        if isinstance(edit, SetLayer) and isinstance(previous, SetLayer) and previous.layer == edit.layer:
            edit = SetLayer(edit.layer, previous.values | edit.values)  # --set L.kernel_size=7 --set L.padding=3: one edit
            edits.pop()
        edits.append(edit)
    if not edits:
        raise ExplorerError("No edits: give --set, --replace, --remove, --set-input or --edits FILE.json.")
    from explorer.core.onnx_export import check_output_folder
    from explorer.core.paths import check_output_file

    if args.save:
        check_output_file(args.save)  # before any work, as every --out
    if args.export:
        check_output_folder(args.export, option="--export")
    mode = args.mode or (saved.mode if saved else "eval")
    input_shape = args.input or (saved.input_shape if saved else None)
    result = what_if(model, edits, input_shape=input_shape, mode=mode, convention=args.convention)
    if args.save:
        EditFile(result.model, tuple(edits), mode, result.original.input_shape).save(args.save)
    exported = None
    if args.export:
        generator = export_edited(model, edits, args.export, input_shape=input_shape, weights=args.weights)
        exported = _run_with_progress(generator, _export_step if args.format != "json" else lambda _event: None, inline=False)
        if exported.error:
            raise ExplorerError(exported.error)
    if args.format == "json":
        data = result.to_dict()
        if exported is not None:
            data["export"] = exported.to_dict()
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return 0
    sys.stdout.write(render_whatif(result, all_layers=args.all))
    if args.save:
        print(f"edits saved to {args.save}")
    if exported is not None:
        parity = "not verified" if exported.max_rel_diff is None else f"max rel diff {exported.max_rel_diff:.2e}"
        print(f"exported {exported.path} ({exported.bytes / 2**20:,.1f} MB, {exported.nodes} nodes, {parity}) [{exported.weights}]")
    return 0


def _cmd_lesson(args: argparse.Namespace) -> int:
    from explorer.core.lessons import LESSON_CONVENTION_NOTE, LESSONS, run_lesson

    if args.name is None:
        if args.json:
            print(json.dumps([{"name": l.name, "title": l.title, "model": l.model, "claim": l.claim} for l in LESSONS], indent=2, ensure_ascii=False))
            return 0
        width = max(len(lesson.name) for lesson in LESSONS)
        for lesson in LESSONS:
            print(f"  {lesson.name:<{width}}  {lesson.title}")
        print("\nRun one: cnn-explorer lesson NAME")
        print(LESSON_CONVENTION_NOTE)
        return 0
    result = run_lesson(args.name)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
        return 0
    lesson = result.lesson
    print(f"{lesson.title}\n{lesson.source}\n")
    print(f"Claim: {lesson.claim}\n")
    if lesson.compares:
        shape = f" at {'×'.join(map(str, lesson.input_shape))}" if lesson.input_shape else ""
        print(f"Experiment on {lesson.model}{shape}: {lesson.labels[0]} against {lesson.labels[1]}")
        for edit in lesson.base_edits:
            print(f"  both:   {edit.describe()}")
        for edit in lesson.edits:
            print(f"  second: {edit.describe()}")
        print()
    print(result.table())
    print(f"\nVerdict: {result.verdict}")
    for note in result.measured.notes:
        print(f"\nNote: {note}")
    print(f"\n{LESSON_CONVENTION_NOTE}")
    return 0


def _position(text: str | None) -> tuple[int, int] | None:
    """``--at Y,X`` → (row, col)."""
    if text is None:
        return None
    from explorer.core.errors import ExplorerError

    parts = [p.strip() for p in text.replace("x", ",").split(",")]
    if len(parts) != 2 or not all(p.lstrip("-").isdigit() for p in parts):
        raise ExplorerError(f"Malformed --at {text!r}: expected Y,X (row, column), for example 7,7.")
    return int(parts[0]), int(parts[1])


def _cmd_explain(args: argparse.Namespace) -> int:
    from explorer.core.errors import ExplorerError
    from explorer.core.explain import Explainer, explanation_image
    from explorer.core.images import load_image
    from explorer.core.paths import check_image_output, save_image
    from explorer.core.runner import ModelRunner

    model, images = _split_model_and_images(args.inputs)
    if len(images) != 1:
        raise ExplorerError(f"explain takes one image, not {len(images)}: {' '.join(images)}.")
    if not 0.0 <= args.opacity <= 1.0:
        raise ExplorerError(f"--opacity must be between 0 and 1, not {args.opacity}.")
    image = images[0]
    picture = load_image(image)  # a clear error for a bad image before any model loads
    if args.out is not None:
        check_image_output(args.out)
    runner = ModelRunner(args.device)
    loaded = _load_with_progress(runner, model, _weights_option(model, args.weights))
    explainer = Explainer(runner)
    explanation = _run_with_progress(
        explainer.explain(
            model, image, target=args.target, method=args.method, layer=args.layer, weights=loaded.key,
            patch=args.patch, stride=args.stride,
        ),
        _many_steps,
    )  # fmt: skip
    for notice in runner.notices:
        print(f"cnn-explorer: note: {notice}", file=sys.stderr)
    if args.out is not None:
        save_image(explanation_image(picture, explanation, opacity=args.opacity), args.out)
    if args.json:
        print(json.dumps(explanation.to_dict(), indent=2, ensure_ascii=False))
        return 0
    geometry = explanation.geometry
    left, top, right, bottom = geometry.crop_in_image()
    width, height = geometry.image_size
    print(
        f"{model} ({explanation.weights}) on {image} ({width}×{height}; the network saw a "
        f"{geometry.crop_size[0]}×{geometry.crop_size[1]} crop of x {left:.0f}–{right:.0f}, y {top:.0f}–{bottom:.0f})"
    )
    print(explanation.describe())
    values = explanation.values
    at_layer = ""
    if explanation.layer_values is not None:
        h, w = explanation.layer_values.shape
        at_layer = f" (at the layer {h}×{w}, upsampled bilinearly)"
    print(f"  map {values.shape[1]}×{values.shape[0]}{at_layer}  min {values.min():.4g}  max {values.max():.4g}")
    peak, peak_image = explanation.peak, explanation.peak_in_image
    if peak is None or peak_image is None:
        print("  no peak: the map is zero or negative everywhere")
    else:
        print(f"  peak at x {peak_image[0]}, y {peak_image[1]} in the image (x {peak[1]}, y {peak[0]} in the crop)")
    print("  top-5: " + ", ".join(f"{p.label} {p.probability:.1%}" for p in explanation.top))
    for note in explanation.notes:
        print(f"  note: {note}")
    if args.out is not None:
        print(f"  → {args.out}")
    return 0


def _cmd_erf(args: argparse.Namespace) -> int:
    from explorer.core.explain import Explainer, effective_field_image
    from explorer.core.images import load_image
    from explorer.core.paths import check_image_output, save_image
    from explorer.core.runner import ModelRunner

    at = _position(args.at)
    picture = load_image(args.image)
    if args.out is not None:
        check_image_output(args.out)
    runner = ModelRunner(args.device)
    loaded = _load_with_progress(runner, args.model, _weights_option(args.model, args.weights))
    explainer = Explainer(runner)
    field = _run_with_progress(
        explainer.effective_field(args.model, args.image, args.layer, at=at, channel=args.channel, weights=loaded.key),
        _many_steps,
    )
    for notice in runner.notices:
        print(f"cnn-explorer: note: {notice}", file=sys.stderr)
    if args.out is not None:
        crop, _ = runner.preprocess(args.model, picture, loaded.key)
        save_image(effective_field_image(crop, field), args.out)
    if args.json:
        print(json.dumps(field.to_dict(), indent=2, ensure_ascii=False))
        return 0
    shape = "×".join(str(d) for d in field.layer_shape)
    unit = "all channels summed" if field.channel is None else f"channel {field.channel}"
    row, col = field.position
    print(f"{args.model} ({field.weights}) on {args.image}: effective receptive field of {field.layer} ({shape}) "
          f"at row {row}, column {col}, {unit}")  # fmt: skip
    top, left, bottom, right = field.theoretical_box
    crop_w, crop_h = field.geometry.crop_size
    height, width = field.box_size()
    clipped = "" if field.unclipped_box == field.theoretical_box else (
        f"; unclipped rows {field.unclipped_box[0]}–{field.unclipped_box[2]}, columns {field.unclipped_box[1]}–{field.unclipped_box[3]}"
    )  # fmt: skip
    print(f"  theoretical field: rows {top}–{bottom}, columns {left}–{right} of the {crop_w}×{crop_h} crop "
          f"({height}×{width} px{clipped})")  # fmt: skip
    if field.support is not None:
        s_top, s_left, s_bottom, s_right = field.support
        print(f"  gradient non-zero in rows {s_top}–{s_bottom}, columns {s_left}–{s_right}")
    for share in field.mass:
        print(f"  {share.formula}")
    for note in field.notes:
        print(f"  note: {note}")
    if args.out is not None:
        print(f"  → {args.out}")
    return 0


def _classification_table(results: Sequence[Classification]) -> str:
    bar_width = 20
    full, empty = _bar_glyphs()
    lines: list[str] = []
    for result in results:
        if lines:
            lines.append("")
        if result.error:
            lines.append(f"{result.image}\n  error: {result.error}")
            continue
        lines.append(f"{result.image}  ·  {result.model} · {result.weights} · {result.device} · {result.ms:.1f} ms")
        width = max(len(p.label) for p in result.predictions)
        for rank, p in enumerate(result.predictions, start=1):
            filled = round(p.probability * bar_width)
            bar = full * filled + empty * (bar_width - filled)
            index = "" if p.label == f"class {p.index}" else f"  (class {p.index})"
            lines.append(f"  {rank:>2}. {p.label:<{width}}  {bar} {p.probability * 100:6.2f}%{index}")
    return "\n".join(lines) + "\n"


def _bar_glyphs() -> tuple[str, str]:
    encoding = getattr(sys.stdout, "encoding", None) or "ascii"
    try:
        "█░".encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return "#", "."
    return "█", "░"


def _cmd_gui(args: argparse.Namespace) -> int:
    from explorer.core.errors import ExplorerError

    try:
        width, height = (int(v) for v in args.size.lower().replace("×", "x").split("x"))
    except ValueError:
        raise ExplorerError(f"Malformed --size {args.size!r}: expected WxH, for example 1600x1000.") from None
    if not (64 <= width <= 16384 and 64 <= height <= 16384):
        raise ExplorerError(f"--size {args.size} is out of range: 64 to 16384 pixels each way.")
    if args.screenshot is not None:
        # Checked here, before the window: a screenshot of another model than asked would be a lie.
        from explorer.core.paths import check_output_file, prepare_output_folder
        from explorer.core.zoo import get_spec

        prepare_output_folder(args.screenshot.parent, option="--screenshot folder")
        check_output_file(args.screenshot)
        for name in filter(None, (args.model, args.compare)):
            get_spec(name)
    from explorer.gui.app import GuiOptions, run

    return run(
        GuiOptions(
            model=args.model,
            input_shape=args.input,
            mode=args.mode,
            view=args.view,
            compare=args.compare,
            select=args.select,
            expand=args.expand,
            images=tuple(args.image),
            lesson=args.lesson,
            edits=tuple(args.edit),
            edit_file=args.edits,
            convention=args.convention,
            method=args.method,
            at=_position(args.at),
            screenshot=args.screenshot,
            size=(width, height),
            graph_layout=args.graph_layout,
        )
    )


def _cmd_doctor(args: argparse.Namespace) -> int:
    from explorer.doctor import run_checks

    return run_checks(sys.stdout)


def _cmd_export(args: argparse.Namespace) -> int:
    from explorer.core.onnx_export import ExportOptions, check_output_folder, export_many

    check_output_folder(args.out)  # a missing or read-only folder: exit 2 before any work (opset and --input: export_many)
    options = ExportOptions(
        opset=args.opset, input_shape=args.input, dynamic_batch=args.dynamic_batch,
        weights=args.weights, verify=not args.no_verify,
    )  # fmt: skip
    generator = export_many(args.models, args.out, options)
    results = _run_with_progress(generator, _export_step if not args.json else lambda _event: None, inline=False)
    if args.json:
        from explorer.core.console import dumps_json

        print(dumps_json([r.to_dict() for r in results]))
    else:
        for r in results:
            if r.error:
                print(f"{r.model:<20} error: {r.error}")
                continue
            parity = "not verified" if r.max_rel_diff is None else f"max abs diff {r.max_abs_diff:.2e}, max rel diff {r.max_rel_diff:.2e}"
            print(f"{r.model:<20} {r.path}  {r.bytes / 2**20:,.1f} MB  {r.nodes:,} nodes  {parity}  {r.seconds:.1f} s  [{r.weights}]")
    return 1 if any(r.error for r in results) else 0


def _export_step(event: Any) -> str | None:
    from explorer.core.onnx_export import ExportProgress

    return f"[{event.index + 1}/{event.total}] {event.message}" if isinstance(event, ExportProgress) else None


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, handled like Ctrl+C: ``finally`` blocks remove staging files, then exit 128+N."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _terminate(signum: int, _frame: object) -> None:
    raise Terminated(signum)


def _handle_termination_signals() -> None:
    for name in ("SIGTERM", "SIGHUP"):
        number = getattr(signal, name, None)
        if number is not None and signal.getsignal(number) in (signal.SIG_DFL, None):
            signal.signal(number, _terminate)


def main(argv: Sequence[str] | None = None) -> int:
    from explorer.core.console import quiet_libraries

    quiet_libraries()
    _handle_termination_signals()
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.install_desktop_entry:
        from explorer.desktop import install_desktop_entry

        for path in install_desktop_entry():
            print(path)
        return 0
    if args.command is None:
        args = parser.parse_args(["gui"])
    handlers = {"gui": _cmd_gui, "models": _cmd_models, "summary": _cmd_summary, "classify": _cmd_classify, "export": _cmd_export,
        "features": _cmd_features, "whatif": _cmd_whatif, "lesson": _cmd_lesson, "reconcile": _cmd_reconcile,
        "explain": _cmd_explain, "erf": _cmd_erf, "doctor": _cmd_doctor,
    }  # fmt: skip
    from explorer.core.errors import ExplorerError
    from explorer.core.usercode import set_time_limit

    try:
        if hasattr(args, "timeout"):
            set_time_limit(args.timeout)
        return handlers[args.command](args)
    except ExplorerError as error:
        print(f"cnn-explorer: error: {error}", file=sys.stderr)
        return error.exit_code
    except BrokenPipeError:  # `cnn-explorer summary vgg16 | head`
        return 0
    except MemoryError:
        print("cnn-explorer: error: out of memory.", file=sys.stderr)
        return 1
    except Terminated as stop:
        return 128 + stop.signum
    except KeyboardInterrupt:
        return 130

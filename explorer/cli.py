"""``cnn-explorer``: the command line. Every subcommand calls the core; user errors exit 2 with no traceback."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

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
    gui.add_argument("--view", choices=("graph", "table", "charts", "compare", "classify", "features"), default="graph")
    gui.add_argument("--image", nargs="+", default=[], metavar="PATH", help="images for --view classify or features (default: the samples)")
    gui.add_argument("--compare", metavar="MODEL2", help="second model of the compare view")
    gui.add_argument("--select", metavar="LAYER", help="select a layer or block")
    gui.add_argument("--expand", metavar="all|PATHS", help="expand all blocks, or the comma-separated module paths")
    gui.add_argument("--screenshot", metavar="FILE.png", type=Path, help="render the window offscreen to FILE and exit")
    gui.add_argument("--size", default="1600x1000", help="window size for --screenshot, WxH")
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
    add_timeout_option(summary)

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


def _load_with_progress(runner: ModelRunner, model: str, weights: str) -> LoadedWeights:
    """``runner.load`` allowing a download (progress on a terminal), else untrained."""
    loading = runner.load(model, weights, allow_download=True, fallback_untrained=True)
    progress_shown = False
    while True:
        try:
            progress = next(loading)
        except StopIteration as stop:
            loaded = stop.value
            break
        if progress.stage == "download" and sys.stderr.isatty():
            print(f"\r{progress.message}", end="", file=sys.stderr, flush=True)
            progress_shown = True
    if progress_shown:
        print(file=sys.stderr)
    return loaded


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

    summary = analyze(args.model, args.input, args.mode)
    sys.stdout.write(render(summary, args.format))
    if args.formulas and args.format == "table":
        for row in summary.layers:
            print(f"\n{row.name} ({row.type})")
            for formula in row.formulas:
                print(f"  {formula.quantity:<16} {formula.expression}")
    return 0


DEFAULT_CLASSIFIER = "efficientnet_lite0"


def _split_model_and_images(inputs: list[str]) -> tuple[str, list[str]]:
    """``[MODEL] IMAGE...``: the first word is a model unless it is not one.

    A first word that is no model is an image (a missing one gets its own error entry), unless
    it looks like a misspelt model name (close matches exist and it is neither a path nor has
    a suffix): then the call fails with "Did you mean…".
    """
    from explorer.core.errors import ExplorerError
    from explorer.core.zoo import get_spec

    first, rest = inputs[0], inputs[1:]
    try:
        get_spec(first)
    except ExplorerError as error:
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
    from explorer.core.weights import weight_options

    if args.top < 1:
        raise ExplorerError(f"--top must be at least 1, not {args.top}.")
    model, inputs = _split_model_and_images(args.inputs)
    images = image_files(inputs)
    if not images:
        raise ExplorerError("No images found in " + ", ".join(inputs) + ".")
    runner = ModelRunner(args.device)
    # Without --weights, the model's best pretrained weights: downloaded if need be, else untrained.
    weights = args.weights or weight_options(model)[0].key
    loaded = _load_with_progress(runner, model, weights)
    results = runner.classify_all(model, images, weights=loaded.key, top_k=args.top, batch_size=args.batch_size)
    for notice in runner.notices:
        print(f"cnn-explorer: note: {notice}", file=sys.stderr)
    if args.json:
        from explorer.core.console import dumps_json

        print(dumps_json([result.to_dict() for result in results]))
    else:
        sys.stdout.write(_classification_table(results))
    return 1 if any(result.error for result in results) else 0


def _feature_layers(summary: ModelSummary, names: str) -> list[str]:
    """``--layers``: node names kept; a block name expands to its branch view's nodes."""
    from explorer.core.features import branch_layers, check_layers

    layers: list[str] = []
    for name in (n.strip() for n in names.split(",")):
        if not name:
            continue
        if name not in summary.graph:
            branch = branch_layers(summary, name)
            if branch is not None:
                layers.extend(node for _title, node in branch.items)
                continue
        layers.append(name)
    if not layers:
        from explorer.core.errors import ExplorerError

        raise ExplorerError("--layers names no layer.")
    check_layers(summary, layers)
    return list(dict.fromkeys(layers))


def _feature_weights(model: str, weights: str | None) -> str:
    """``--weights``: a key or file as given; "pretrained" (and no flag) is the best pretrained option."""
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
    from explorer.core.errors import ExplorerError
    from explorer.core.features import FeatureExtractor, channel_grid
    from explorer.core.images import load_image
    from explorer.core.paths import atomic_write, prepare_output_folder
    from explorer.core.runner import ModelRunner, require_image_model

    summary = analyze(args.model)
    require_image_model(args.model, "features")
    layers = _feature_layers(summary, args.layers)
    load_image(args.image)  # a clear error for a bad image before any model loads
    if args.out is not None:
        prepare_output_folder(args.out)
    runner = ModelRunner(args.device)
    loaded = _load_with_progress(runner, args.model, _feature_weights(args.model, args.weights))
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
            screenshot=args.screenshot,
            size=(width, height),
        )
    )


def _cmd_doctor(args: argparse.Namespace) -> int:
    from explorer.doctor import run_checks

    return run_checks(sys.stdout)


def _cmd_export(args: argparse.Namespace) -> int:
    from explorer.core.onnx_export import ExportOptions, check_output_folder, export_many, run_to_end

    check_output_folder(args.out)  # a missing or read-only folder: exit 2 before any work (opset and --input: export_many)
    options = ExportOptions(
        opset=args.opset, input_shape=args.input, dynamic_batch=args.dynamic_batch,
        weights=args.weights, verify=not args.no_verify,
    )  # fmt: skip
    progress = sys.stderr.isatty() and not args.json
    generator = export_many(args.models, args.out, options)
    if progress:
        results = _with_progress(generator)
    else:
        results = run_to_end(generator)
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


def _with_progress(generator: object) -> list[object]:
    from explorer.core.onnx_export import ExportProgress

    try:
        while True:
            event = next(generator)  # type: ignore[call-overload]
            if isinstance(event, ExportProgress):
                print(f"[{event.index + 1}/{event.total}] {event.message}", file=sys.stderr)
    except StopIteration as stop:
        return stop.value


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
        "features": _cmd_features, "doctor": _cmd_doctor,
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

"""Export zoo models to ONNX with the dynamo exporter, then prove the file matches PyTorch.

Everything a user can get wrong is checked before any work: the output folder, the opset (the
range the installed exporter writes itself, ``supported_opsets``), and an input size whose
activations could not fit in memory for the onnxruntime check (``limits``). Each export is
written atomically (into a hidden staging folder beside the target, named with the process id,
then renamed), so a failure, a cancel or a signal leaves the output folder as it was, and
staging folders that killed runs left behind are removed by the next export. Then the file is
checked with ``onnx.checker`` and compared with PyTorch in onnxruntime, on random input and on a
real photo; the opset reported is the one the file declares.
"""

from __future__ import annotations

import collections
import contextlib
import io
import os
import re
import time
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import torch
from torch import nn

from explorer.core import usercode
from explorer.core.errors import ExplorerError
from explorer.core.layers import Shape
from explorer.core.paths import OutputError, check_output_folder, staging_folder

DEFAULT_OPSET = 18
#: Protobuf's limit: above it the weights go to a ``.data`` file beside the model.
SINGLE_FILE_LIMIT = 2 * 1024**3
WEIGHT_CHOICES = ("default", "pretrained", "untrained")
#: The lowest opset the dynamo exporter has its own implementations for (torchlib's); below it,
#: torch.onnx only tries onnx's version converter, which fails for most models and then keeps
#: this opset anyway (an ``--opset 7`` export used to claim 7 and contain 18).
_TORCHLIB_OPSET_FALLBACK = 18
#: onnxruntime's messages below ERROR go nowhere: the parity numbers say what matters.
_ORT_LOG_ERRORS_ONLY = 3


def supported_opsets() -> range:
    """The opsets the installed exporter writes: from torchlib's own to the newest onnx knows."""
    import onnx

    try:
        from torch.onnx._internal.exporter import _constants

        lowest = int(_constants.TORCHLIB_OPSET)
    except (ImportError, AttributeError):
        lowest = _TORCHLIB_OPSET_FALLBACK
    return range(lowest, int(onnx.defs.onnx_opset_version()) + 1)


def check_opset(opset: int) -> int:
    """An opset the installed exporter writes itself, or a one-line ``ExplorerError`` (exit 2)."""
    supported = supported_opsets()
    if opset not in supported:
        import onnx

        raise ExplorerError(
            f"Opset {opset} cannot be exported here: torch {torch.__version__.split('+')[0]} with onnx "
            f"{onnx.__version__} writes opsets {supported.start} to {supported.stop - 1}.",
            hint=f"Use --opset {supported.start}…{supported.stop - 1} (default {DEFAULT_OPSET}).",
        )
    return opset


@dataclass(frozen=True)
class ExportOptions:
    opset: int = DEFAULT_OPSET
    input_shape: Shape | str | None = None  # C×H×W (or text such as "3x224x224"); None: the model's default
    dynamic_batch: bool = False
    weights: str = "default"  # default | pretrained | untrained | a state-dict file
    verify: bool = True


@dataclass(frozen=True)
class Parity:
    """onnxruntime against PyTorch on one input: the largest differences."""

    input: str  # "random, batch 2", "photo", …
    max_abs_diff: float
    max_rel_diff: float  # max |onnx − torch| / max |torch|: scale-free


@dataclass(frozen=True)
class ExportResult:
    model: str
    path: Path | None = None
    bytes: int = 0
    opset: int = DEFAULT_OPSET
    nodes: int = 0
    op_types: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    parity: tuple[Parity, ...] = ()
    seconds: float = 0.0
    weights: str = ""
    input_shape: Shape = ()
    dynamic_batch: bool = False
    error: str | None = None

    @property
    def max_abs_diff(self) -> float | None:
        return max((p.max_abs_diff for p in self.parity), default=None)

    @property
    def max_rel_diff(self) -> float | None:
        return max((p.max_rel_diff for p in self.parity), default=None)

    def to_dict(self) -> dict[str, Any]:
        """The CLI's JSON entry."""
        return {
            "model": self.model,
            "path": str(self.path) if self.path else None,
            "bytes": self.bytes,
            "opset": self.opset,
            "nodes": self.nodes,
            "max_abs_diff": self.max_abs_diff,
            "max_rel_diff": self.max_rel_diff,
            "seconds": round(self.seconds, 3),
            "error": self.error,
        }


@dataclass(frozen=True)
class ExportProgress:
    model: str
    index: int  # which model of the batch (0-based)
    total: int
    stage: str  # "weights", "export", "check", "verify", "done"
    message: str


def offline_weights_key(name: str, weights: str) -> str:
    """``default`` (the best weights available offline), ``pretrained`` (embedded or cached, else an
    error), ``untrained`` or a key or file, as a key ``weights.load_weights`` takes."""
    from explorer.core import weights as weight_sources

    if weights == "default":
        return weight_sources.default_weights(name)
    if weights == "pretrained":
        options = [o for o in weight_sources.weight_options(name) if o.status in {"embedded", "cached"}]
        if not options:
            raise ExplorerError(
                f"No pretrained weights for {name} are available offline.",
                hint="Download them in the app (or any torchvision call while online), or use --weights untrained.",
            )
        return options[0].key
    return weights


def _model_with_weights(name: str, weights: str) -> tuple[nn.Module, str]:
    from explorer.core import weights as weight_sources

    model, loaded = run_to_end(weight_sources.load_weights(name, offline_weights_key(name, weights)))
    return model.eval(), loaded.label


def _example_input(shape: Shape, batch: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn((batch, *shape), generator=generator)


def _photo_input(shape: Shape) -> torch.Tensor | None:
    """The bundled cat photo, resized to the input, normalised as ImageNet models expect."""
    from explorer.core.samples import sample_image

    if len(shape) != 3 or shape[0] not in (1, 3):
        return None
    from PIL import Image

    with Image.open(sample_image()) as image:
        picture = image.convert("RGB" if shape[0] == 3 else "L").resize((shape[2], shape[1]), Image.Resampling.BILINEAR)
    array = np.asarray(picture, dtype=np.float32) / 255.0
    tensor = torch.from_numpy(array).reshape(shape[1], shape[2], shape[0]).permute(2, 0, 1)
    mean = torch.tensor([0.485, 0.456, 0.406] if shape[0] == 3 else [0.5]).view(-1, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225] if shape[0] == 3 else [0.5]).view(-1, 1, 1)
    return ((tensor - mean) / std).unsqueeze(0)


def _parity(session: Any, model: nn.Module, x: torch.Tensor, label: str) -> Parity:
    input_name = session.get_inputs()[0].name
    got = session.run(None, {input_name: x.numpy()})[0]
    with torch.inference_mode():
        expected = model(x)
    expected = (expected[0] if isinstance(expected, (tuple, list)) else expected).numpy()
    if got.shape != expected.shape:
        raise ExplorerError(f"onnxruntime returned shape {got.shape}, PyTorch {expected.shape} ({label}).")
    # A NaN would make every difference NaN, which compares as "no error": say it instead.
    if not np.isfinite(expected).all():
        raise ExplorerError(f"PyTorch's output holds NaN or infinite values ({label} input): there is no parity to check.")
    if not np.isfinite(got).all():
        raise ExplorerError(f"onnxruntime's output holds NaN or infinite values where PyTorch's does not ({label} input).")
    difference = float(np.abs(got - expected).max())
    scale = float(np.abs(expected).max()) or 1.0
    return Parity(label, difference, difference / scale)


def _written_opset(proto: Any) -> int | None:
    return next((int(o.version) for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)


def check_export_fits(name: str, shape: Shape, options: ExportOptions) -> None:
    """Refuse up front an input whose activations could not fit for the onnxruntime check."""
    if not options.verify:
        return  # torch.export traces with fake tensors: only the check runs real activations
    from explorer.core.analysis import analyze
    from explorer.core.limits import check_forward_fits

    summary = analyze(name, shape)
    batch = 3 if options.dynamic_batch else 1  # the largest batch the check runs
    weights = 4 * summary.totals.params
    check_forward_fits(
        summary, what=f"Checking the export of {name} in onnxruntime", batch=batch, passes=2, extra_bytes=2 * weights,
    )  # fmt: skip


def export_one(
    name: str,
    folder: str | os.PathLike[str],
    options: ExportOptions = ExportOptions(),
    *,
    model: nn.Module | None = None,
    weights_label: str | None = None,
    stem: str | None = None,
    index: int = 0,
    total: int = 1,
) -> Generator[ExportProgress, None, ExportResult]:
    """Export one model; yields progress between stages (close the generator to cancel).

    ``model`` exports that instance as it is ("current" weights, e.g. what the app has loaded);
    ``stem`` names the file (default: the model's name), e.g. ``vgg16-edited`` for a what-if.
    Raises ExplorerError for a problem with this model; the caller decides whether to go on.
    """
    from explorer.core.analysis import parse_input_shape
    from explorer.core.zoo import get_spec

    target_folder = check_output_folder(folder)
    check_opset(options.opset)
    spec = get_spec(name)
    shape = spec.input_shape if options.input_shape is None else parse_input_shape(options.input_shape, channels=spec.input_shape[0])
    check_export_fits(name, shape, options)
    started = time.perf_counter()

    def progress(stage: str, message: str) -> ExportProgress:
        return ExportProgress(name, index, total, stage, message)

    if model is None:
        yield progress("weights", f"{name}: loading {options.weights} weights")
        weights = options.weights
        if weights not in WEIGHT_CHOICES:
            weights = str(Path(weights).expanduser())
            model, label = _model_with_file(name, weights)
        else:
            model, label = _model_with_weights(name, weights)
    else:
        label = weights_label or "current"
    model = model.eval()  # GoogLeNet's auxiliary heads only run in train mode: eval leaves them out

    # Batch 1 gets specialised by torch.export, so a dynamic batch is traced with 2.
    example = _example_input(shape, 2 if options.dynamic_batch else 1)
    safe_name = "".join(c if c.isalnum() or c in "-_." else "_" for c in Path(stem or name).name)
    target = target_folder / f"{safe_name}.onnx"
    with staging_folder(target_folder, target.name) as staging, _folder_must_stay(target_folder):
        yield progress("export", f"{name}: exporting with torch.onnx (dynamo), opset {options.opset}")
        staged = staging / target.name
        dynamic = ({0: torch.export.Dim("batch", min=1, max=4096)},) if options.dynamic_batch else None
        try:
            with (
                contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), torch.no_grad(),
                usercode.guard(name, "the export"),
            ):  # fmt: skip
                program = torch.onnx.export(
                    model, (example,), dynamo=True, opset_version=options.opset, dynamic_shapes=dynamic,
                    input_names=["input"], output_names=["logits"], verbose=False,
                )  # fmt: skip
            parameter_bytes = sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])
            program.save(str(staged), external_data=parameter_bytes >= SINGLE_FILE_LIMIT)
        except ExplorerError:
            raise
        except Exception as error:
            raise ExplorerError(f"torch.onnx could not export {name}: {_first_line(error)}") from error

        yield progress("check", f"{name}: onnx.checker")
        import onnx

        try:
            onnx.checker.check_model(str(staged), full_check=True)
        except Exception as error:
            raise ExplorerError(f"onnx.checker rejected the export of {name}: {_first_line(error)}") from error
        proto = onnx.load(str(staged), load_external_data=False)
        op_types = collections.Counter(node.op_type for node in proto.graph.node)

        written_opset = _written_opset(proto)
        if written_opset != options.opset:
            raise ExplorerError(
                f"torch.onnx was asked for opset {options.opset} but wrote opset {written_opset} for {name}; "
                "the file is not kept."
            )

        parity: list[Parity] = []
        if options.verify:
            yield progress("verify", f"{name}: comparing onnxruntime with PyTorch")
            try:
                with usercode.guard(name, "the onnxruntime check"):
                    parity = _verify(staged, model, shape, options)
            except ExplorerError:
                raise
            except MemoryError:
                raise ExplorerError(f"Not enough memory to check the export of {name} in onnxruntime.") from None
            except Exception as error:  # onnxruntime's own exception types
                raise ExplorerError(f"onnxruntime could not run the export of {name}: {_first_line(error)}") from None

        files = sorted(staging.iterdir())
        try:
            for file in files:  # the model, then its .data file if any: both renamed in place
                os.replace(file, target_folder / file.name)
            size = sum((target_folder / file.name).stat().st_size for file in files)
        except OSError as error:
            raise OutputError(
                f"Cannot write {target}: {error.strerror or error} (was {target_folder} removed during the export?)"
            ) from None
    yield progress("done", f"{name}: written {target}")
    return ExportResult(
        model=name, path=target, bytes=size, opset=written_opset or options.opset, nodes=len(proto.graph.node),
        op_types=MappingProxyType(dict(op_types.most_common())), parity=tuple(parity),
        seconds=time.perf_counter() - started, weights=label, input_shape=shape, dynamic_batch=options.dynamic_batch,
    )  # fmt: skip


@contextlib.contextmanager
def _folder_must_stay(folder: Path) -> Generator[None, None, None]:
    """Any failure while the output folder has vanished is reported as that, not as what it broke."""
    try:
        yield
    except Exception:
        if not folder.is_dir():
            raise OutputError(f"{folder} was removed during the export; nothing was written.") from None
        raise


def _verify(staged: Path, model: nn.Module, shape: Shape, options: ExportOptions) -> list[Parity]:
    import onnxruntime

    session_options = onnxruntime.SessionOptions()
    session_options.log_severity_level = _ORT_LOG_ERRORS_ONLY
    session = onnxruntime.InferenceSession(str(staged), session_options, providers=["CPUExecutionProvider"])
    batches = (1, 3) if options.dynamic_batch else (1,)
    parity = [_parity(session, model, _example_input(shape, b, seed=b), f"random, batch {b}") for b in batches]
    photo = _photo_input(shape)
    if photo is not None:
        parity.append(_parity(session, model, photo, "photo"))
    return parity


def _model_with_file(name: str, path: str) -> tuple[nn.Module, str]:
    from explorer.core.weights import apply_state_dict, load_state_dict_file
    from explorer.core.zoo import get_spec

    model = get_spec(name).build()
    state = load_state_dict_file(path, expected=model.state_dict(), model_name=name)
    apply_state_dict(model, state, model_name=name, source=f"The weights in {Path(path).name}")
    return model, f"file {Path(path).name}"


def export_many(
    names: Sequence[str], folder: str | os.PathLike[str], options: ExportOptions = ExportOptions()
) -> Generator[ExportProgress | ExportResult, None, list[ExportResult]]:
    """Export each model in turn; a model that fails gets an entry with its error and the rest go on.

    Yields progress, and each model's result as soon as it is known. The folder and the opset
    are checked first (an ``ExplorerError`` for the whole call, exit 2).
    """
    check_output_folder(folder)
    check_opset(options.opset)
    _check_inputs(names, options)
    results: list[ExportResult] = []
    for index, name in enumerate(names):
        started = time.perf_counter()
        try:
            result = yield from export_one(name, folder, options, index=index, total=len(names))
        except ExplorerError as error:
            result = ExportResult(model=name, opset=options.opset, seconds=time.perf_counter() - started, error=str(error))
        results.append(result)
        yield result
    return results


def _check_inputs(names: Sequence[str], options: ExportOptions) -> None:
    """The --input of the whole call: malformed, or too large for any model, before any export starts."""
    from explorer.core.analysis import parse_input_shape
    from explorer.core.zoo import get_spec

    for name in names:
        try:
            spec = get_spec(name)
        except ExplorerError:
            continue  # an unknown name is that model's own error entry
        shape = spec.input_shape if options.input_shape is None else parse_input_shape(options.input_shape, channels=spec.input_shape[0])
        try:
            check_export_fits(name, shape, options)
        except ExplorerError as error:
            from explorer.core.limits import TooLargeError

            if isinstance(error, TooLargeError):
                raise
            # anything else (a user model that does not trace) is that model's own error entry


def run_to_end(generator: Generator[Any, None, Any]) -> Any:
    """Drain a progress generator and return its value (the CLI has no progress bar to feed)."""
    try:
        while True:
            next(generator)
    except StopIteration as stop:
        return stop.value


_TERMINAL_COLOURS = re.compile(r"\x1b\[[0-9;]*m")


def _first_line(error: BaseException) -> str:
    text = _TERMINAL_COLOURS.sub("", str(error)).strip()  # torch.export colours its messages
    return f"{type(error).__name__}: {text.splitlines()[0]}" if text else type(error).__name__

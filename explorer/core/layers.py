"""What the core knows about each kind of layer: its kind, its hyperparameters, its output shape.

Output shapes of the common layers are computed here exactly, from the same formulas the
layer panel teaches (``⌊(W − K + 2P)/S⌋ + 1``), because meta-device execution of BatchNorm or
``add`` costs 100–600 µs a call; every other op runs on the meta device.
``tests/core/test_graph.py`` checks these rules against meta execution on every zoo model.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

Shape = tuple[int, ...]

#: Layer kinds, used for colours, grouping and the counting rules.
KINDS: tuple[str, ...] = (
    "input",
    "conv",
    "linear",
    "attention",
    "pool",
    "norm",
    "activation",
    "dropout",
    "merge",
    "elementwise",
    "reshape",
    "other",
)

_MODULE_KINDS: tuple[tuple[type[nn.Module], str], ...] = (
    (nn.modules.conv._ConvNd, "conv"),
    (nn.Linear, "linear"),
    (nn.Bilinear, "linear"),
    (nn.MultiheadAttention, "attention"),
    (nn.modules.pooling._MaxPoolNd, "pool"),
    (nn.modules.pooling._AvgPoolNd, "pool"),
    (nn.modules.pooling._AdaptiveAvgPoolNd, "pool"),
    (nn.modules.pooling._AdaptiveMaxPoolNd, "pool"),
    (nn.modules.pooling._LPPoolNd, "pool"),
    (nn.modules.batchnorm._NormBase, "norm"),
    (nn.LayerNorm, "norm"),
    (nn.GroupNorm, "norm"),
    (nn.LocalResponseNorm, "norm"),
    (nn.modules.dropout._DropoutNd, "dropout"),
    (nn.Flatten, "reshape"),
    (nn.Unflatten, "reshape"),
    (nn.Identity, "other"),
)
_ACTIVATION_MODULES: tuple[type[nn.Module], ...] = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU,
    nn.Mish, nn.Sigmoid, nn.Tanh, nn.Hardswish, nn.Hardsigmoid, nn.Hardtanh, nn.Softmax,
    nn.LogSoftmax, nn.Softplus, nn.Softsign, nn.Tanhshrink, nn.Threshold, nn.GLU,
)  # fmt: skip

_FUNCTION_KINDS: dict[str, str] = {
    **dict.fromkeys(("conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d"), "conv"),
    **dict.fromkeys(("linear", "matmul", "mm", "bmm", "addmm", "einsum", "baddbmm"), "linear"),
    **dict.fromkeys((
        "max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d",
        "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
        "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d", "mean", "amax",
    ), "pool"),
    **dict.fromkeys(("batch_norm", "layer_norm", "group_norm", "instance_norm", "local_response_norm", "normalize"), "norm"),
    **dict.fromkeys((
        "relu", "relu_", "relu6", "leaky_relu", "elu", "selu", "celu", "gelu", "silu", "mish",
        "sigmoid", "tanh", "hardswish", "hardsigmoid", "hardtanh", "softmax", "log_softmax",
        "softplus", "glu",
    ), "activation"),
    **dict.fromkeys(("dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "stochastic_depth"), "dropout"),
    **dict.fromkeys(("cat", "concat", "stack"), "merge"),
    **dict.fromkeys((
        "flatten", "view", "reshape", "permute", "transpose", "squeeze", "unsqueeze", "contiguous",
        "getitem", "chunk", "split", "expand", "narrow", "unflatten", "movedim", "t",
    ), "reshape"),
}  # fmt: skip
#: Arithmetic ops: a "merge" when two tensors meet (the residual add), else "elementwise".
_ARITHMETIC: frozenset[str] = frozenset(
    {"add", "iadd", "add_", "sub", "isub", "mul", "imul", "mul_", "truediv", "div", "floordiv", "neg", "pow", "sqrt", "exp", "clamp", "clip"}
)


def module_kind(module: nn.Module) -> str:
    custom = getattr(module, "explorer_kind", None)
    if isinstance(custom, str):
        return custom
    for cls, kind in _MODULE_KINDS:
        if isinstance(module, cls):
            return kind
    if isinstance(module, _ACTIVATION_MODULES):
        return "activation"
    name = type(module).__name__
    if name == "StochasticDepth":
        return "dropout"
    return "other"


def function_kind(op: str, tensor_inputs: int) -> str:
    if op in _ARITHMETIC:
        return "merge" if tensor_inputs >= 2 else "elementwise"
    return _FUNCTION_KINDS.get(op, "other")


def op_name(target: Any) -> str:
    """``operator.add`` → ``add``, ``torch.cat`` → ``cat``, ``"view"`` → ``view``."""
    if isinstance(target, str):
        name = target
    else:
        name = getattr(target, "__name__", None) or type(target).__name__
    name = name.strip("_") if name.startswith("__") else name
    # In-place forms count and read like their plain op: ``x += y`` is the residual ``add``.
    name = _IN_PLACE.get(name, name)
    return name[:-1] if name.endswith("_") and len(name) > 1 else name


_IN_PLACE: dict[str, str] = {"iadd": "add", "imul": "mul", "isub": "sub", "itruediv": "truediv"}


def _pair(value: int | Sequence[int], n: int = 2) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * n
    values = tuple(int(v) for v in value)
    return values if len(values) == n else (values[0],) * n


def hyperparameters(module: nn.Module) -> dict[str, Any]:
    """The settings a student looks for, by kind: kernel, stride, padding, groups, …"""
    params: dict[str, Any] = {}
    if isinstance(module, nn.modules.conv._ConvNd):
        params.update(
            in_channels=module.in_channels,
            out_channels=module.out_channels,
            kernel_size=tuple(module.kernel_size),
            stride=tuple(module.stride),
            padding=getattr(module, "explorer_padding_mode", None) or module.padding,
            dilation=tuple(module.dilation),
            groups=module.groups,
            bias=module.bias is not None,
        )
    elif isinstance(module, nn.Linear):
        params.update(in_features=module.in_features, out_features=module.out_features, bias=module.bias is not None)
    elif isinstance(module, (nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd)):
        for key in ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "count_include_pad"):
            if hasattr(module, key):
                params[key] = getattr(module, key)
    elif isinstance(module, (nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd)):
        params["output_size"] = module.output_size
    elif isinstance(module, nn.modules.batchnorm._NormBase):
        params.update(num_features=module.num_features, eps=module.eps, momentum=module.momentum, affine=module.affine)
    elif isinstance(module, nn.LocalResponseNorm):
        params.update(size=module.size, alpha=module.alpha, beta=module.beta, k=module.k)
    elif isinstance(module, (nn.LayerNorm, nn.GroupNorm)):
        params.update({k: getattr(module, k) for k in ("normalized_shape", "num_groups", "eps") if hasattr(module, k)})
    elif isinstance(module, nn.modules.dropout._DropoutNd):
        params["p"] = module.p
    elif isinstance(module, (nn.ReLU, nn.ReLU6, nn.SiLU, nn.Hardswish, nn.LeakyReLU)):
        params["inplace"] = getattr(module, "inplace", False)
    elif getattr(module, "explorer_kind", None):
        for key in ("in_channels", "out_channels", "kernel_size", "stride", "padding", "in_features", "out_features"):
            if hasattr(module, key):
                params[key] = getattr(module, key)
    return params


# --- exact output shapes ------------------------------------------------------------------


class EmptyOutputError(ValueError):
    """A layer's output would have a zero or negative size: the input is too small."""


def conv_output_size(size: int, kernel: int, stride: int, padding: int, dilation: int = 1, *, ceil_mode: bool = False) -> int:
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    # PyTorch's pooling rule: with ceil_mode the last window must start inside the input or left padding.
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TF "SAME" padding (before, after) along one axis."""
    total = max((math.ceil(size / stride) - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def effective_padding(module: nn.Module, spatial: Sequence[int]) -> tuple[tuple[int, int], ...]:
    """(before, after) padding per spatial axis, whatever the padding mode."""
    n = len(spatial)
    kernel = _pair(getattr(module, "kernel_size", 1), n)
    stride = _pair(getattr(module, "stride", None) or kernel, n)
    dilation = _pair(getattr(module, "dilation", 1), n)
    if getattr(module, "explorer_padding_mode", None) == "same":
        return tuple(same_padding(s, k, st, d) for s, k, st, d in zip(spatial, kernel, stride, dilation))
    padding = getattr(module, "padding", 0)
    if padding == "same":
        return tuple(((d * (k - 1)) // 2, d * (k - 1) - (d * (k - 1)) // 2) for k, d in zip(kernel, dilation))
    if padding == "valid":
        return ((0, 0),) * n
    pads = _pair(padding, n)
    return tuple((p, p) for p in pads)


def _check(shape: Shape, name: str, input_shape: Shape) -> Shape:
    if any(d <= 0 for d in shape):
        raise EmptyOutputError(
            f"{name} would produce an empty output ({_fmt(shape)}) from {_fmt(input_shape)}"
        )
    return shape


def _fmt(shape: Shape) -> str:
    return "×".join(str(d) for d in shape)


def _sliding_output(module: nn.Module, shape: Shape, channels_out: int, name: str) -> Shape:
    spatial_dims = len(shape) - 2
    spatial = shape[2:]
    kernel = _pair(module.kernel_size, spatial_dims)
    stride = _pair(module.stride or module.kernel_size, spatial_dims)
    dilation = _pair(getattr(module, "dilation", 1), spatial_dims)
    ceil_mode = bool(getattr(module, "ceil_mode", False))
    pads = effective_padding(module, spatial)
    if getattr(module, "explorer_padding_mode", None) == "same":
        out = tuple(math.ceil(s / st) for s, st in zip(spatial, stride))
    elif all(before == after for before, after in pads):
        out = tuple(
            conv_output_size(s, k, st, p[0], d, ceil_mode=ceil_mode)
            for s, k, st, p, d in zip(spatial, kernel, stride, pads, dilation)
        )
    else:
        out = tuple(
            (s + p[0] + p[1] - d * (k - 1) - 1) // st + 1 for s, k, st, p, d in zip(spatial, kernel, stride, pads, dilation)
        )
    return _check((shape[0], channels_out, *out), name, shape)


def _conv_shape(module: nn.Module, shapes: list[Shape], name: str) -> Shape | None:
    if isinstance(module, nn.modules.conv._ConvTransposeNd) or len(shapes[0]) != module.weight.dim():
        return None  # transposed and unbatched convs: let the meta device do it
    if shapes[0][1] != module.in_channels:
        return None  # a mismatch: meta execution raises PyTorch's own message
    return _sliding_output(module, shapes[0], module.out_channels, name)


def _pool_shape(module: nn.Module, shapes: list[Shape], name: str) -> Shape | None:
    shape = shapes[0]
    dims = {"1d": 1, "2d": 2, "3d": 3}.get(type(module).__name__[-2:].lower())
    if dims is None or len(shape) != dims + 2:
        return None
    return _sliding_output(module, shape, shape[1], name)


def _adaptive_shape(module: nn.Module, shapes: list[Shape], name: str) -> Shape | None:
    shape = shapes[0]
    spatial_dims = len(shape) - 2
    if spatial_dims < 1:
        return None
    size = module.output_size
    target = (size,) * spatial_dims if isinstance(size, int) or size is None else tuple(size)
    out = tuple(s if t is None else int(t) for s, t in zip(shape[2:], target))
    return _check((*shape[:2], *out), name, shape)


def _linear_shape(module: nn.Module, shapes: list[Shape], name: str) -> Shape | None:
    shape = shapes[0]
    if shape[-1] != module.in_features:
        return None
    return (*shape[:-1], module.out_features)


def _flatten_module_shape(module: nn.Module, shapes: list[Shape], name: str) -> Shape | None:
    return _flatten(shapes[0], module.start_dim, module.end_dim)


def _flatten(shape: Shape, start: int = 0, end: int = -1) -> Shape:
    n = len(shape)
    start, end = start % n if n else 0, end % n if n else 0
    return (*shape[:start], math.prod(shape[start : end + 1]), *shape[end + 1 :])


def _same_shape(module: nn.Module, shapes: list[Shape], name: str) -> Shape | None:
    return shapes[0]


_MODULE_SHAPE_RULES: tuple[tuple[type[nn.Module] | tuple[type[nn.Module], ...], Callable[..., Shape | None]], ...] = (
    (nn.modules.conv._ConvNd, _conv_shape),
    (nn.Linear, _linear_shape),
    ((nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd), _pool_shape),
    ((nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd), _adaptive_shape),
    (nn.Flatten, _flatten_module_shape),
    (
        (nn.modules.batchnorm._BatchNorm, nn.LocalResponseNorm, nn.modules.dropout._DropoutNd, nn.Identity, *_ACTIVATION_MODULES),
        _same_shape,
    ),
)


def module_output_shape(module: nn.Module, input_shapes: list[Shape], name: str) -> Shape | None:
    """The exact output shape of a standard module, or None to ask the meta device."""
    if not input_shapes:
        return None
    for cls, rule in _MODULE_SHAPE_RULES:
        # Only the classes themselves: a subclass may change forward (except the SAME conv, which we know).
        if type(module) in _classes(cls) or (isinstance(module, nn.Conv2d) and getattr(module, "explorer_padding_mode", None)):
            return rule(module, input_shapes, name)
    return None


def _classes(cls: type | tuple[type, ...]) -> set[type]:
    roots = cls if isinstance(cls, tuple) else (cls,)
    return _subclasses_in_torch(roots)


_SUBCLASS_CACHE: dict[tuple[type, ...], set[type]] = {}


def _subclasses_in_torch(roots: tuple[type, ...]) -> set[type]:
    """The classes in ``roots`` and their subclasses defined by torch itself."""
    cached = _SUBCLASS_CACHE.get(roots)
    if cached is None:
        cached, stack = set(), list(roots)
        while stack:
            cls = stack.pop()
            if cls.__module__.startswith("torch.nn"):
                cached.add(cls)
            stack.extend(cls.__subclasses__())
        _SUBCLASS_CACHE[roots] = cached
    return cached


def _broadcast(shapes: list[Shape]) -> Shape | None:
    """torch.broadcast_shapes for integer shapes; None where they do not broadcast.

    Written out because torch's imports sympy on its first call (0.4 s of a first analysis).
    """
    result: list[int] = []
    for sizes in itertools.zip_longest(*(reversed(shape) for shape in shapes), fillvalue=1):
        wider = {size for size in sizes if size != 1}
        if len(wider) > 1:
            return None
        result.append(wider.pop() if wider else 1)
    return tuple(reversed(result))


def function_output_shape(op: str, target: Any, args: tuple[Any, ...], kwargs: dict[str, Any], input_shapes: list[Shape]) -> Shape | None:
    """Exact output shapes of the common functional ops; None to ask the meta device."""
    if op in {"relu", "relu_", "relu6", "sigmoid", "tanh", "silu", "gelu", "hardswish", "hardsigmoid", "dropout", "contiguous"}:
        return input_shapes[0] if len(input_shapes) == 1 else None
    if op in {"add", "iadd", "mul", "imul", "sub", "truediv", "add_", "mul_"} and input_shapes:
        return _broadcast(input_shapes)
    if op in {"cat", "concat"}:
        dim = kwargs.get("dim", args[1] if len(args) > 1 else 0)
        if not isinstance(dim, int) or not input_shapes or any(len(s) != len(input_shapes[0]) for s in input_shapes):
            return None
        rank = len(input_shapes[0])
        dim %= rank
        if any(s[:dim] + s[dim + 1 :] != input_shapes[0][:dim] + input_shapes[0][dim + 1 :] for s in input_shapes):
            return None
        out = list(input_shapes[0])
        out[dim] = sum(s[dim] for s in input_shapes)
        return tuple(out)
    if op == "flatten" and len(input_shapes) == 1:
        start = kwargs.get("start_dim", args[1] if len(args) > 1 else 0)
        end = kwargs.get("end_dim", args[2] if len(args) > 2 else -1)
        if isinstance(start, int) and isinstance(end, int) and input_shapes[0]:
            return _flatten(input_shapes[0], start, end)
    return None


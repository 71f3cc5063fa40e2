"""The explain view's and the effective field's long jobs (issue 14), run on worker threads.

Like ``jobs.py``, each imports the core lazily, so the window appears before PyTorch has loaded.
They share the app's one ModelRunner (and so its model cache) through ``jobs.shared_runner``.
"""

from __future__ import annotations

import threading
from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PySide6.QtGui import QImage

from explorer.gui import jobs

if TYPE_CHECKING:
    from explorer.core.explain import EffectiveField, Explainer, Explanation

_explainer: Explainer | None = None
_explainer_lock = threading.Lock()


def shared_explainer() -> Explainer:
    """The app's one Explainer, over the shared runner; made on first use."""
    global _explainer
    with _explainer_lock:
        if _explainer is None:
            from explorer.core.explain import Explainer

            _explainer = Explainer(jobs.shared_runner())
        return _explainer


@dataclass(frozen=True)
class ExplainResult:
    """One pane's answer: the explanation, the photo to lay it over and what the pickers offer."""

    explanation: Explanation
    picture: QImage  # the whole upright photo (the map covers the crop's part of it)
    display: Any  # np.ndarray (H, W) in [0, 1]: the map as the overlay paints it (``display_values``)
    layers: tuple[str, ...]  # nodes with a spatial map, deepest first (the layer picker)
    default_layer: str
    notice: str | None = None  # e.g. "resnet18: untrained weights (ImageNet weights not downloaded — no network)."


def _load(model: str, weights: str | None) -> Generator[object, None, tuple[str, str | None]]:
    """The model's weights through the runner (downloaded if need be), else untrained, with a notice."""
    from explorer.core.errors import ExplorerError

    runner = jobs.shared_runner()
    try:
        loaded = yield from jobs._progress(runner.load(model, weights, allow_download=True))
    except ExplorerError as error:
        loaded = yield from jobs._progress(runner.load(model, "untrained"))
        return loaded.key, jobs.untrained_notice(model, jobs.untrained_reason(error))
    return loaded.key, None


def explain(
    model: str, weights: str | None, image: str, *, target: str | int, method: str, layer: str | None
) -> Generator[object, None, ExplainResult]:
    """Load ``model`` and explain class ``target`` of ``image`` with ``method`` (at ``layer``)."""
    from explorer.core.analysis import analyze
    from explorer.core.explain import default_layer, explainable_layers
    from explorer.core.images import load_image

    yield jobs.ClassifyProgress(0, None, f"Loading {model}…")
    key, notice = yield from _load(model, weights)
    runner = jobs.shared_runner()
    picture = load_image(image)
    _crop, tensor = runner.preprocess(model, picture, key)
    summary = analyze(model, tuple(int(d) for d in tensor.shape))
    explanation = yield from jobs._progress(
        shared_explainer().explain(model, image, target=target, method=method, layer=layer, weights=key, summary=summary)
    )
    return ExplainResult(
        explanation=explanation,
        picture=jobs.pil_to_qimage(picture),
        display=explanation.display_values(),
        layers=tuple(explainable_layers(summary)),
        default_layer=default_layer(summary),
        notice=notice,
    )


def effective_field(
    model: str, weights: str | None, image: str, layer: str, row: int, col: int, channel: int | None
) -> Generator[object, None, EffectiveField]:
    """The effective receptive field of ``layer``'s unit (row, col), one channel or all."""
    key, _notice = yield from _load(model, weights)
    return (
        yield from jobs._progress(
            shared_explainer().effective_field(model, image, layer, at=(row, col), channel=channel, weights=key)
        )
    )

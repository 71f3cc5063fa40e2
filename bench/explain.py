"""Benchmark: Grad-CAM (and the other maps) against a plain forward + backward; occlusion's images/s.

Run from a checkout (no installation needed)::

    python bench/explain.py [--device cpu|cuda|auto] [--repeat N]

What is measured (batch 1, warm: one untimed run of each first, then interleaved medians as in
``bench/runner.py``), with EfficientNet-Lite0's embedded ImageNet weights on the cat photo:

- **Grad-CAM**: ``Explainer.explain(method="gradcam")`` at the default layer (``_relu1``) for the
  top-1 class, with the explainer's result cache emptied before every run (the traced graph and
  its tapped copy stay, as they do in the app): one forward pass through captum's
  ``LayerGradCam`` (the class chosen from that pass's own logits), the gradient back to the
  layer, the weighted sum, the bilinear upsampling to the crop and the top-5. The peer is a
  plain ``model(x)`` and ``logits[0, class].backward()`` on the same tensor (gradients of every
  parameter, as training would). Target: at most 1.3×.
- guided Grad-CAM, saliency and one effective receptive field (``_blocks.5._project_conv`` at
  the map's centre: a forward pass stopping at that node, a backward pass to the input), against
  the same peer, for information.
- **occlusion**: the default patch (a seventh of the crop, 32 px) and stride (16 px): 169 covered
  images plus the uncovered one, in batches of 16 on the CPU (64 on CUDA), reported as images per
  second; the peer runs as many images through the plain model (``inference_mode``) in the same
  batches, interleaved with the occlusion runs.
"""

from __future__ import annotations

import argparse
import datetime
import math
import platform
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
for folder in (REPO_ROOT, REPO_ROOT / "bench"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import torch  # noqa: E402
from runner import interleaved_medians, machine  # noqa: E402  (bench/runner.py's timing helpers)

from explorer.core.devices import describe_device  # noqa: E402
from explorer.core.samples import sample_image  # noqa: E402
from explorer.core.errors import ExplorerError  # noqa: E402
from explorer.core.explain import Explainer  # noqa: E402
from explorer.core.runner import ModelRunner  # noqa: E402

CAT = sample_image()
MODEL, WEIGHTS = "efficientnet_lite0", "embedded"
ERF_LAYER = "_blocks.5._project_conv"
GRADCAM_TARGET = 1.3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--threads", type=int, help="torch's intra-op threads (default: torch's own choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        runner = ModelRunner(args.device)
    except ExplorerError as error:
        print(f"bench/explain.py: {error}", file=sys.stderr)
        return 2
    device = runner.device
    explainer = Explainer(runner)
    net = runner.on_device(MODEL, WEIGHTS)
    _crop, tensor = runner.preprocess(MODEL, str(CAT), WEIGHTS)
    batch = tensor.unsqueeze(0).to(device)
    top1 = explainer.explain_all(MODEL, CAT, weights=WEIGHTS).target.index

    def fresh(method: str, **options: object) -> object:
        explainer._results.clear()  # the maps, not the traced graph: what a new photo or class costs
        explainer._logits.clear()
        return explainer.explain_all(MODEL, CAT, method=method, weights=WEIGHTS, **options)

    def forward_backward() -> object:
        net.zero_grad(set_to_none=True)
        logits = net(batch)
        logits[0, top1].backward()
        return logits

    def effective_field() -> object:
        explainer._results.clear()
        return explainer.effective_field_all(MODEL, CAT, ERF_LAYER, weights=WEIGHTS)

    rows = []
    for title, call in (
        ("Grad-CAM at _relu1", lambda: fresh("gradcam")),
        ("guided Grad-CAM at _relu1", lambda: fresh("guided")),
        ("saliency", lambda: fresh("saliency")),
        (f"effective receptive field ({ERF_LAYER}, centre)", effective_field),
    ):
        ours, peer = interleaved_medians(call, forward_backward, device, args.repeat)
        rows.append((title, ours, peer))
    net.zero_grad(set_to_none=True)

    occluded = fresh("occlusion")
    settings = occluded.settings  # type: ignore[attr-defined]
    side = math.ceil((tensor.shape[-1] - settings["patch"]) / settings["stride"]) + 1  # as captum shifts
    images = side * side + 1
    per_pass = 16 if device.type == "cpu" else 64
    inference_batch = batch.repeat(per_pass, 1, 1, 1)

    def batched_inference() -> object:
        """The same number of images through the plain model, in the same batches."""
        with torch.inference_mode():
            for start in range(0, images, per_pass):
                net(inference_batch[: min(per_pass, images - start)])

    occlusion_runs = max(3, args.repeat // 5)
    occlusion_ms, inference_ms = interleaved_medians(lambda: fresh("occlusion"), batched_inference, device, occlusion_runs)
    seconds = occlusion_ms / 1e3

    print("# Explain benchmark")
    print()
    print(f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}")
    print(f"- machine: {machine()}")
    print(f"- python {platform.python_version()}, torch {torch.__version__}; device: {describe_device(device)}; torch threads: {torch.get_num_threads()}")
    print(f"- {MODEL} ({WEIGHTS} weights) on {CAT.name}, batch 1; medians of {args.repeat} interleaved runs after one warm-up")
    print()
    print("| measure | ours ms | forward + backward ms | ratio | target |")
    print("|---|---:|---:|---:|---|")
    for title, ours, peer in rows:
        target = f"≤ {GRADCAM_TARGET}×" if title.startswith("Grad-CAM") else ""
        print(f"| {title} | {ours:.1f} | {peer:.1f} | {ours / peer:.3f}× | {target} |")
    print()
    print(f"| occlusion ({settings['patch']} px patch, stride {settings['stride']}, batches of {per_pass}) | value |")
    print("|---|---:|")
    print(f"| images evaluated | {images} |")
    print(f"| time (median of {occlusion_runs}, interleaved with the peer) | {seconds:.2f} s |")
    print(f"| occlusion images/s | {images / seconds:.1f} |")
    print(f"| plain batched inference of as many images, images/s (batch {per_pass}) | {images / (inference_ms / 1e3):.1f} |")
    print(f"| occlusion / plain inference time | {occlusion_ms / inference_ms:.2f}× |")
    print()
    ratio = rows[0][1] / rows[0][2]
    passed = ratio <= GRADCAM_TARGET
    print(f"{'PASS' if passed else 'MISS'}: Grad-CAM {ratio:.3f}× a forward + backward (target ≤ {GRADCAM_TARGET}×)")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())

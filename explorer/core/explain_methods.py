"""The explanation methods' names, importable without torch: the CLI's ``--method`` choices and the
GUI's method picker (which must appear before torch has loaded). The methods themselves are in
``explain.py``, which re-exports these.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

#: The methods, by the name the CLI and the GUI use, with the name a person reads.
METHODS: Mapping[str, str] = MappingProxyType(
    {"gradcam": "Grad-CAM", "guided": "guided Grad-CAM", "saliency": "saliency", "occlusion": "occlusion"}
)
#: The methods that explain through a layer (the others look at the input only).
LAYER_METHODS = frozenset({"gradcam", "guided"})

"""GUI messages speak the GUI's words: every core hint that names a command-line option is rewritten."""

from __future__ import annotations

import re
from pathlib import Path

from explorer.core.errors import ExplorerError
from explorer.gui.messages import in_gui_words

CORE = Path(__file__).resolve().parents[2] / "explorer" / "core"


def test_the_hints_the_gui_shows_name_no_option() -> None:
    cases = {
        "Use a larger --input.": "Use a larger input shape (Input, in the Models panel).",
        "Create it first, or choose another --out.": "Create it first, or choose another folder.",
        "Replace it instead, e.g. --replace features.0=conv:out=64,k=3.": "Replace it instead (Replace, in the Edit panel), e.g. conv:out=64,k=3.",
        "Replace layer1.0.conv2 too (cnn-explorer whatif --replace).": "Replace layer1.0.conv2 too (Replace, in the Edit panel).",
    }  # fmt: skip
    for cli, gui in cases.items():
        assert in_gui_words(ExplorerError("Input 3×32×32 is too small.", hint=cli)) == f"Input 3×32×32 is too small.\n{gui}"


def test_every_option_named_in_a_core_hint_has_gui_words() -> None:
    """A hint added to the core later with an option in it fails here until the GUI can say it."""
    hints = []
    for source in CORE.rglob("*.py"):
        hints += re.findall(r'hint=f?"([^"]*--[a-z][^"]*)"', source.read_text(encoding="utf-8"))
    assert hints, "the core's hints were found"
    for hint in hints:
        example = hint.replace("{path}", "features.0").replace("{option}", "--out")
        example = re.sub(r"\{[^}]*\}", "3", example)
        said = in_gui_words(example)
        assert not re.search(r"(?<![\w-])--(input|out|replace|opset|weights|device)\b", said), f"{hint!r} → {said!r}"

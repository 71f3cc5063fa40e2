"""The GUI's words for messages the core writes in the command line's (``Use a larger --input.``).

The core's errors name the CLI option a user would change; in the window the same thing is a
field or a button. One table here, applied wherever the GUI shows a core message.
"""

from __future__ import annotations

import re

#: (pattern, replacement), applied in order: the longer phrases first.
_GUI_WORDS: tuple[tuple[str, str], ...] = (
    (r"choose another --out\b", "choose another folder"),
    (r"choose another --screenshot folder", "choose another folder"),
    (r"a (larger|smaller) --input\b", r"a \1 input shape (the Models panel's Input field)"),
    (r"--input\b", "input shape"),
    (r"--out\b", "output folder"),
    (r"use --weights untrained", "choose untrained weights"),
    (r"Use --device cpu or auto\.", "Choose the CPU."),
    (r"Use --opset ", "Choose an opset in "),
    (r"raise the limit with --timeout SECONDS \(0: no limit\)", "run it from the command line with a longer --timeout"),
    (r", e\.g\. --replace (\S+)=", r", e.g. Replace \1 by "),
    (r"\(cnn-explorer whatif --replace\)", "(Replace… in the Edit panel)"),
)


def gui_words(message: object) -> str:
    """``str(message)`` with the CLI's option names put as the window says them."""
    text = str(message)
    for pattern, replacement in _GUI_WORDS:
        text = re.sub(pattern, replacement, text)
    return text

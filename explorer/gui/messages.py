"""Errors in the GUI's words: the core's hints name the command line's options ("Use a larger
--input."), which mean nothing in a window. Each is said as what to do in the app instead."""

from __future__ import annotations

import re

#: (the CLI's words, the GUI's), applied in order to an error's text.
_CLI_TO_GUI: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"Use a larger --input\."), "Use a larger input shape (Input, in the Models panel)."),
    (re.compile(r"choose another --out\b"), "choose another folder"),
    (re.compile(r"choose another --screenshot folder"), "choose another folder"),
    (re.compile(r"Use --device cpu or auto\."), "The app uses the CPU instead when no GPU is there."),
    (re.compile(r"Replace it instead, e\.g\. --replace [^=\s]+=(\S+?)\.?$", re.M), r"Replace it instead (Replace, in the Edit panel), e.g. \1."),
    (re.compile(r"\(cnn-explorer whatif --replace\)"), "(Replace, in the Edit panel)"),
    (re.compile(r"Use --opset (\S+)"), r"Use opset \1"),
    (re.compile(r"use --weights untrained"), "export with untrained weights"),
    (
        re.compile(r"If it only needs longer, raise the limit with --timeout SECONDS \(0: no limit\)\."),
        "If it only needs longer, run it from the command line with a longer --timeout.",
    ),
    # What no phrase above caught: the option said as the thing it sets.
    (re.compile(r"(?<![\w-])--input\b"), "input shape"),
    (re.compile(r"(?<![\w-])--out\b"), "output folder"),
)


def in_gui_words(error: BaseException | str) -> str:
    """``str(error)`` with the command line's options said as the app's controls."""
    text = str(error)
    for pattern, replacement in _CLI_TO_GUI:
        text = pattern.sub(replacement, text)
    return text

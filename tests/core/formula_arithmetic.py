"""An evaluator for the formulas the app prints: each one must be true arithmetic.

The syntax (README, "Formulas"):

- a formula is clauses separated by ``; `` (``H' = …; W' = …``, ``RF = …; jump = …``);
- a clause may start with a general form or an axis, ending in ``: `` (``⌊(W − K + 2P)/S⌋ + 1: ``,
  ``H: ``), then labels (``H' = W' =``, ``RF =``), then values joined by ``=`` (equal exactly) or
  ``≈`` (equal to the printed precision);
- values use ``×`` (or ``·``), ``/``, ``+``, ``−``, parentheses, ``⌊ ⌋``, ``⌈ ⌉``, ``max(a, b)``,
  ``min(a, b)``, thousands separators (``72,855,552``: a comma between digits, no space) and units
  (``B``, ``KB`` = 1024 B, ``MB``, ``GB``, ``px``);
- text in parentheses that holds a letter is a comment (``(the whole map, 7 units)``).

Numbers are read as exact fractions, so ``=`` means equal, not close.
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass
from fractions import Fraction

UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "px": 1}
_LETTER = re.compile(r"[^\W\d_]")
_INNERMOST = re.compile(r"\(([^()]*)\)")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_UNIT = re.compile(r"(\d)\s*(KB|MB|GB|B|px)(?![\w])")
_ARITHMETIC = re.compile(r"^[\d\s.+\-*/(),]*$")
_LABEL = re.compile(r"[^\W\d][\w']*")  # H', W', RF, jump, C


class FormulaSyntaxError(ValueError):
    pass


def strip_comments(text: str) -> str:
    """Remove every parenthesised group that holds a letter (innermost first, so nesting is fine)."""
    kept: list[str] = []
    while True:
        match = _INNERMOST.search(text)
        if match is None:
            break
        inner = match.group(1)
        # ``max(…)``'s own parentheses hold no letter; the word before them is the function.
        if _LETTER.search(inner):
            text = text[: match.start()].rstrip() + text[match.end() :]
        else:
            kept.append(inner)
            text = text[: match.start()] + f"\x00{len(kept) - 1}\x01" + text[match.end() :]
    while "\x00" in text:
        text = re.sub(r"\x00(\d+)\x01", lambda m: "(" + kept[int(m.group(1))] + ")", text)
    return text


def _normalise(part: str) -> str | None:
    """Python arithmetic for a value, or None when the part is a label (``H'``, ``RF``)."""
    text = _THOUSANDS.sub("", part.strip())
    text = _UNIT.sub(lambda m: f"{m.group(1)}*{m.group(2)}", text)
    text = text.replace("×", "*").replace("·", "*").replace("−", "-")
    text = text.replace("⌊", " floor(").replace("⌋", ")").replace("⌈", " ceil(").replace("⌉", ")")
    bare = re.sub(r"\b(floor|ceil|max|min|KB|MB|GB|B|px)\b", "", text)
    if not text.strip() or not _ARITHMETIC.match(bare):
        return None
    return text


def _evaluate(node: ast.AST) -> Fraction:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return Fraction(str(node.value))
    if isinstance(node, ast.Name) and node.id in UNITS:
        return Fraction(UNITS[node.id])
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_evaluate(node.operand)
    if isinstance(node, ast.BinOp):
        left, right = _evaluate(node.left), _evaluate(node.right)
        operations = {ast.Add: left.__add__, ast.Sub: left.__sub__, ast.Mult: left.__mul__, ast.Div: left.__truediv__}
        for kind, apply in operations.items():
            if isinstance(node.op, kind):
                return apply(right)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        values = [_evaluate(arg) for arg in node.args]
        if node.func.id == "floor" and len(values) == 1:
            return Fraction(math.floor(values[0]))
        if node.func.id == "ceil" and len(values) == 1:
            return Fraction(math.ceil(values[0]))
        if node.func.id in {"max", "min"} and values:
            return max(values) if node.func.id == "max" else min(values)
    raise FormulaSyntaxError(f"not arithmetic: {ast.dump(node)}")


def value(part: str) -> Fraction:
    text = _normalise(part)
    if text is None:
        raise FormulaSyntaxError(f"not a value: {part!r}")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as error:
        raise FormulaSyntaxError(f"cannot parse {part!r}: {error}") from None
    return _evaluate(tree)


def _tolerance(part: str) -> Fraction:
    """Half a unit of the last printed digit of ``part`` (``≈ 13.71`` → 0.005), in its unit."""
    match = re.search(r"(\d[\d,]*)(?:\.(\d+))?\s*(KB|MB|GB|B|px)?\s*$", part.strip())
    if match is None:
        raise FormulaSyntaxError(f"no number to round: {part!r}")
    decimals = len(match.group(2) or "")
    return Fraction(1, 2 * 10**decimals) * UNITS.get(match.group(3) or "", 1)


@dataclass(frozen=True)
class Clause:
    axis: str  # "H", "W", … or "" when the clause is for every axis
    labels: tuple[str, ...]  # ("H'", "W'"), ("RF",), ("jump",), ()
    values: tuple[Fraction, ...]  # every value of the chain, all equal (≈ within the printed precision)
    text: str

    @property
    def result(self) -> Fraction:
        return self.values[-1]


def clauses(expression: str) -> list[Clause]:
    """Parse and check ``expression``: every clause's values must be equal. Raises AssertionError if not."""
    found = []
    for raw in strip_comments(expression).split(";"):
        text = raw.strip()
        if not text:
            continue
        axis = ""
        head, colon, rest = text.partition(": ")
        if colon and "=" not in head:
            text = rest
            if re.fullmatch(r"[A-Z]|axis \d+", head.strip()):
                axis = head.strip()
        pieces = re.split(r"\s*(=|≈)\s*", text)
        parts, links = pieces[0::2], pieces[1::2]
        labels: list[str] = []
        values: list[Fraction] = []
        for i, part in enumerate(parts):
            if _normalise(part) is None:
                if values:
                    raise FormulaSyntaxError(f"{part!r} follows a value in {raw!r}")
                if not _LABEL.fullmatch(part.strip()):
                    raise FormulaSyntaxError(f"{part!r} is neither a value nor a name in {raw!r}")
                labels.append(part.strip())
                continue
            current = value(part)
            if values:
                link = links[i - 1]
                if link == "=":
                    assert current == values[-1], f"{raw!r}: {part!r} is {float(current)}, not {float(values[-1])}"
                else:
                    assert abs(current - values[-1]) <= _tolerance(part), f"{raw!r}: {part!r} ≉ {float(values[-1])}"
                    current = values[-1]  # the exact value stays the result
            values.append(current)
        if values:
            found.append(Clause(axis, tuple(labels), tuple(values), raw.strip()))
    return found

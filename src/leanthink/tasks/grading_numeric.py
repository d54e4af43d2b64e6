"""Plain numeric comparison, shared by tasks whose answers are numbers."""

from __future__ import annotations

import re
from fractions import Fraction

_NUM = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")


def parse_number(text: str | None) -> Fraction | None:
    """The last number in `text` ("$1,234.50" -> 1234.5), or None."""
    if text is None:
        return None
    found = _NUM.findall(text.replace("\\!", "").replace("{,}", ","))
    if not found:
        return None
    try:
        return Fraction(found[-1].replace(",", ""))
    except (ValueError, ZeroDivisionError):
        return None


def numbers_equal(predicted: str | None, gold: str) -> bool:
    p, g = parse_number(predicted), parse_number(gold)
    return p is not None and g is not None and p == g

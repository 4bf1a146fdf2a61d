"""Roman numerals, as Vietnamese documents number their sections and report groups; and a
document's own number as a reader may cite it."""

from __future__ import annotations

_ROMAN = (
    (1000, "M"),
    (900, "CM"),
    (500, "D"),
    (400, "CD"),
    (100, "C"),
    (90, "XC"),
    (50, "L"),
    (40, "XL"),
    (10, "X"),
    (9, "IX"),
    (5, "V"),
    (4, "IV"),
    (1, "I"),
)


def roman(number: int) -> str:
    """I, II, III…: how Vietnamese reports number the groups of a table."""
    if number < 1:
        raise ValueError("roman numerals start at 1")
    parts: list[str] = []
    for value, letters in _ROMAN:
        count, number = divmod(number, value)
        parts.append(letters * count)
    return "".join(parts)


def citable_number(number: str | None) -> str | None:
    """The document's number, or None while it is a draft's blank ("/KH-UBND").

    A plan is often loaded before the office gives it a number: the form "Số:  /KH-UBND" is
    left blank in the document, and a message saying "Kế hoạch số /KH-UBND" reads as a
    mistake. Cited only once it holds a digit.
    """
    if number is None or not any(ch.isdigit() for ch in number):
        return None
    return number.strip()

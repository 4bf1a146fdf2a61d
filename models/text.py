"""The one place where names and codes that enter the system are cleaned and compared.

Vietnamese text reaches us in several byte forms that a reader cannot tell apart: NFC (what
Windows and the web send), NFD (what macOS writes: "ễ" as e + circumflex + tilde), with
invisible characters pasted from Word or a chat (zero-width space, soft hyphen, BOM, direction
marks), with non-breaking or doubled spaces, and with the tone mark on either vowel of "oa",
"oe", "uy" ("Hoà"/"Hòa", "Thuỷ"/"Thủy": both spellings are taught and both are in use).
``clean`` gives every stored name and code one canonical form; ``person_key`` is what two names
must share to be the same person.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["clean", "clean_optional", "person_key"]

_SPACES = re.compile(r"\s+")

# The five Vietnamese tone marks as combining characters (NFD). The other marks (circumflex,
# breve, horn) make different letters and stay where they are.
_TONES = frozenset("\u0300\u0301\u0303\u0309\u0323")


def _visible(char: str) -> bool:
    # Cf: zero-width space/joiners, BOM, soft hyphen, direction marks, word joiner…
    return unicodedata.category(char) != "Cf"


def clean(value: str) -> str:
    """NFC, without invisible format characters, every run of white space one space, trimmed.

    Tabs and line breaks become spaces too: callers use it for one-line values (names,
    codes, roles), never for free text where line breaks matter.
    """
    text = "".join(char for char in unicodedata.normalize("NFC", value) if _visible(char))
    # \s in Python's re covers NBSP, the ideographic space and the other Unicode spaces.
    return _SPACES.sub(" ", text).strip()


def clean_optional(value: str | None) -> str | None:
    """``clean`` for an optional value; a value that cleans to nothing is no value."""
    if value is None:
        return None
    return clean(value) or None


def person_key(name: str) -> str:
    """What two names must share to name the same person: case and tone placement ignored.

    Each word's tone mark is moved to the end of the word, so "Thuỷ" and "Thủy" (or "Hoà" and
    "Hòa") give the same key, while "Thủy" and "Thúy" (different tones) do not.
    """
    words = []
    for word in clean(name).casefold().split(" "):
        decomposed = unicodedata.normalize("NFD", word)
        tones = "".join(char for char in decomposed if char in _TONES)
        letters = "".join(char for char in decomposed if char not in _TONES)
        words.append(unicodedata.normalize("NFC", letters) + tones)
    return " ".join(words)

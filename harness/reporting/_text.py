"""Make untrusted text (messages and evidence echo the target) safe for terminals, XML and HTML.

A hostile or broken target can put ANSI escapes in a message (terminal injection), control characters
that XML 1.0 forbids (the JUnit file would no longer parse) or lone surrogates (the file could not be
written as UTF-8). They are shown escaped, never dropped silently and never passed through.
"""

from __future__ import annotations

import re
import unicodedata

# Everything XML 1.0 allows is kept; the rest (C0 controls but tab/LF/CR, lone surrogates, U+FFFE/FFFF).
_MARKUP_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# For one terminal line: every C0/C1 control (ESC and CSI included), DEL and lone surrogates.
_TERMINAL_INVALID = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_WHITESPACE_RUN = re.compile(r"[ \t\r\n]+")


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def markup_safe(text: str) -> str:
    """Text that XML 1.0 and HTML accept and UTF-8 can encode; forbidden characters appear as ``\\xNN``."""
    return _MARKUP_INVALID.sub(_escaped, text)


def one_line(text: str) -> str:
    """One terminal-safe line: whitespace runs collapse to a space, control characters appear as ``\\xNN``."""
    return _TERMINAL_INVALID.sub(_escaped, _WHITESPACE_RUN.sub(" ", text).strip())


def _char_width(char: str) -> int:
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def display_width(text: str) -> int:
    """Terminal columns ``text`` occupies (wide CJK/emoji count 2, combining marks 0)."""
    return sum(_char_width(char) for char in text)


def truncate(text: str, width: int, *, ellipsis: str) -> str:
    """Cut ``text`` to at most ``width`` columns, marking the cut with ``ellipsis``."""
    if display_width(text) <= width:
        return text
    room = width - display_width(ellipsis)
    if room <= 0:
        return ellipsis[: max(width, 0)]
    kept: list[str] = []
    used = 0
    for char in text:
        char_width = _char_width(char)
        if used + char_width > room:
            break
        kept.append(char)
        used += char_width
    return "".join(kept) + ellipsis


def pad(text: str, width: int, *, right: bool = False) -> str:
    """Pad to ``width`` columns (by display width, so wide characters keep columns aligned)."""
    fill = " " * max(width - display_width(text), 0)
    return fill + text if right else text + fill

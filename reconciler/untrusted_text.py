"""Text that came from a service, made safe to show on one terminal line (issue 29
items 9 and 10).

A service's words are untrusted: an error body may carry escape sequences (clear the
screen, paint a fake "Apply complete" in green), bidi overrides that make a line read
differently, or a whole HTML error page (a proxy's or Cloudflare's) that would flood the
terminal. What reaches a message is the reason alone (an HTML page's <title>), on one
line, every control written as a visible escape, and cut. Pure functions: the renderers
and the HTTP layer share them.
"""

from __future__ import annotations

import html
import re

# C0 and C1 controls, DEL, bidi embeddings/overrides/isolates, line/paragraph separators.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]")
_TITLE = re.compile(r"<title[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)
_HIDDEN = re.compile(r"<(script|style|head)\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")
SCANNED = 16 * 1024  # characters of a body looked at for its reason
CUT = " …"


def printable(text: str) -> str:
    """`text` with every control or bidi character written as a visible \\uXXXX escape."""
    if text.isprintable():  # false for each character below (categories C*, Zl, Zp)
        return text  # a rendered plan of 100,000 changes asks 500,000 times
    return _UNPRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def one_line(text: str, limit: int) -> str:
    """`text` on one line (its lines, stripped, joined by a space; the service's own
    spacing within a line kept), controls escaped, cut to `limit` characters with a
    mark when longer."""
    line = printable(" ".join(part.strip() for part in text.splitlines() if part.strip()))
    return line if len(line) <= limit else line[: max(0, limit - len(CUT))].rstrip() + CUT


def looks_like_html(text: str, content_type: str = "") -> bool:
    return "html" in content_type.lower() or text.lstrip()[:15].lower().startswith(("<!doctype", "<html"))


def body_reason(text: str, content_type: str = "") -> str:
    """What an error body says, for a message: an HTML page's <title> (else its visible
    text), any other body as it is; only its first SCANNED characters are looked at."""
    text = text[:SCANNED]
    if not looks_like_html(text, content_type):
        return text
    title = _TITLE.search(text)
    shown = title.group(1) if title and title.group(1).strip() else _HIDDEN.sub(" ", text)
    return " ".join(html.unescape(_TAG.sub(" ", shown)).split())  # markup's spacing is not the words

"""printable() returns printable text untouched without its regex: sound only if every
character the regex escapes is one str.isprintable() refuses."""

from __future__ import annotations

import sys

from reconciler.untrusted_text import _UNPRINTABLE, printable


def test_every_escaped_character_is_unprintable_to_python():
    escaped = [chr(c) for c in range(sys.maxunicode + 1) if _UNPRINTABLE.match(chr(c))]
    assert len(escaped) > 60
    assert [c for c in escaped if c.isprintable()] == []


def test_printable_text_is_returned_as_is_and_controls_are_escaped():
    text = "tags.score: 0.5 → 0.75 — ünïcode ✓"
    assert printable(text) is text
    assert printable("a\x1b[2Jb\u202ec") == "a\\u001b[2Jb\\u202ec"

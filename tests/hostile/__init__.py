"""Hostile servers and answers (issue 29): every read bounded, every refusal one line."""

"""A service's words reach the terminal on one line, controls escaped, an HTML error page
reduced to its title (issue 29 items 9 and 10): untrusted_text, and each HTTP provider
through the CLI against a HostileServer."""

from __future__ import annotations

import json

import pytest

from cli_helpers import run_cli
from hostile_server import Answer
from reconciler.untrusted_text import body_reason, one_line
from service_cli import SERVICES, write_spec

TOKEN = "hostile-test-token-5f1e"
# clear the screen, home the cursor, a green "Apply complete", a bell, a bidi override
ESCAPES = "\x1b[2J\x1b[H\x1b[32mApply complete: 30 applied\x1b[0m\x07 \u202eevil\r\nsecond line"
CLOUDFLARE = (
    "<!DOCTYPE html>\n<html>\n<head>\n<title>example.com | 520: Web server is returning an "
    "unknown error</title>\n<style>body{color:red}</style>\n</head>\n<body>\n"
    + '<div class="cf-error">Ray ID: 8c1f</div>\n' * 200
    + "</body>\n</html>\n"
)


def test_one_line_escapes_every_control_and_joins_lines():
    shown = one_line(ESCAPES, 500)
    assert "\x1b" not in shown and "\x07" not in shown and "\u202e" not in shown and "\n" not in shown
    assert shown == (
        "\\u001b[2J\\u001b[H\\u001b[32mApply complete: 30 applied\\u001b[0m\\u0007 \\u202eevil second line"
    )


def test_one_line_cuts_with_a_mark():
    assert one_line("x" * 600, 20) == "x" * 18 + " …"
    assert one_line("short", 20) == "short"


def test_an_html_page_is_reduced_to_its_title():
    assert body_reason(CLOUDFLARE, "text/html; charset=UTF-8") == (
        "example.com | 520: Web server is returning an unknown error"
    )
    assert body_reason("<html><body><h1>502 Bad &amp; Gateway</h1></body></html>") == "502 Bad & Gateway"
    assert body_reason('{"reason": "<title>not html</title>"}', "application/json") == (
        '{"reason": "<title>not html</title>"}'
    )


HOSTILE_BODIES = {
    "escapes-json": Answer(400, body=json.dumps({k: ESCAPES for k in ("reason", "error", "detail", "message")})),
    "escapes-text": Answer(400, body=ESCAPES, content_type="text/plain"),
    "cloudflare": Answer(400, body=CLOUDFLARE, content_type="text/html; charset=UTF-8"),
}


@pytest.mark.parametrize("body", sorted(HOSTILE_BODIES))
@pytest.mark.parametrize("name", sorted(SERVICES))
def test_a_hostile_error_body_is_one_escaped_line(hostile, tmp_path, name, body):
    service = SERVICES[name]
    hostile.route("/", HOSTILE_BODIES[body])
    spec = write_spec(service, hostile.url, tmp_path)
    result = run_cli("plan", spec, env=service.env(hostile.url, TOKEN, tmp_path))
    assert result.code == 1, result.out + result.err
    lines = result.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.err
    assert len(lines[0]) < 700
    for raw in ("\x1b", "\x07", "\u202e", "\r"):
        assert raw not in result.out + result.err
    if body == "cloudflare":
        assert "520: Web server is returning an unknown error" in lines[0] and "Ray ID" not in lines[0]
    assert TOKEN not in result.out + result.err

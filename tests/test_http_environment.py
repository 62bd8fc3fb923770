"""The session reads proxy settings from the environment once per endpoint, not once per
request, and still honours them."""

from __future__ import annotations

from local_app import Scripted, json_response, serve
from reconciler.http import make_session


def test_a_proxy_from_the_environment_carries_every_request(monkeypatch):
    proxy = Scripted(lambda r: json_response({"via": "proxy"}))
    with serve(proxy) as proxy_url:
        monkeypatch.setenv("HTTP_PROXY", proxy_url.removesuffix("/repo/v1"))
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        session = make_session(token="t", retries=0, backoff=0.0, timeout=(2.0, 5.0), user_agent="reconciler-tests/1")
        bodies = [session.get(f"http://127.0.0.1:9/repo/v1/x?n={n}").json() for n in range(3)]
    assert bodies == [{"via": "proxy"}] * 3
    assert [seen.path for seen in proxy.seen] == [f"/repo/v1/x?n={n}" for n in range(3)]


def test_no_proxy_from_the_environment_is_honoured_too(monkeypatch):
    target = Scripted(lambda r: json_response({"via": "direct"}))
    with serve(target) as url:
        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        session = make_session(token="t", retries=0, backoff=0.0, timeout=(2.0, 5.0), user_agent="reconciler-tests/1")
        assert [session.get(f"{url}/x").json() for _ in range(2)] == [{"via": "direct"}] * 2

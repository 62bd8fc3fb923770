"""Where the Synapse token comes from (reconciler/auth.py): the environment first, then
~/.synapseConfig or the file SYNAPSE_CONFIG_FILE names; every refusal says how to set one
and never shows the token or the file's content."""

from __future__ import annotations

import pytest

from reconciler.auth import find_token
from reconciler.errors import ConfigError


def test_the_token_comes_from_the_environment_first(tmp_path):
    cfg = tmp_path / ".synapseConfig"
    cfg.write_text("[authentication]\nauthtoken = from-file\n")
    assert find_token({"SYNAPSE_AUTH_TOKEN": " from-env\n", "HOME": str(tmp_path)}) == "from-env"


def test_the_token_comes_from_the_config_file_in_home(tmp_path):
    (tmp_path / ".synapseConfig").write_text("[authentication]\nauthtoken = a%b-from-file\n")
    assert find_token({"HOME": str(tmp_path)}) == "a%b-from-file"


def test_the_config_file_location_can_be_overridden(tmp_path):
    cfg = tmp_path / "other.ini"
    cfg.write_text("[authentication]\nauthToken = elsewhere\n")
    assert find_token({"SYNAPSE_CONFIG_FILE": str(cfg), "HOME": "/nonexistent"}) == "elsewhere"


@pytest.mark.parametrize(
    "content", [None, "", "[authentication]\n", "[other]\nauthtoken = x\n", "[authentication]\nauthtoken =\n"]
)
def test_a_missing_token_says_how_to_set_one(tmp_path, content):
    if content is not None:
        (tmp_path / ".synapseConfig").write_text(content)
    with pytest.raises(ConfigError) as exc:
        find_token({"HOME": str(tmp_path), "SYNAPSE_AUTH_TOKEN": ""})
    assert str(exc.value) == (
        "no Synapse token found: set SYNAPSE_AUTH_TOKEN or add `authtoken = <token>` under "
        "[authentication] in ~/.synapseConfig (a Synapse personal access token with view and "
        "modify scopes)"
    )


def test_a_broken_config_file_is_reported_without_its_content(tmp_path):
    cfg = tmp_path / ".synapseConfig"
    cfg.write_text("authtoken = secret-in-a-broken-file\n[authentication\n")
    with pytest.raises(ConfigError) as exc:
        find_token({"HOME": str(tmp_path)})
    assert str(exc.value) == f"{cfg} is not a valid config file (INI syntax)"
    assert exc.value.__context__ is None and exc.value.__cause__ is None


def test_a_token_with_whitespace_is_refused_without_showing_it(tmp_path):
    with pytest.raises(ConfigError) as exc:
        find_token({"SYNAPSE_AUTH_TOKEN": "abc def", "HOME": str(tmp_path)})
    assert str(exc.value) == (
        "the Synapse token in the SYNAPSE_AUTH_TOKEN environment variable contains spaces or control characters"
    )

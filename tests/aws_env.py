"""The environment an omics test runs in: the fake's credentials, and nothing from this
machine's AWS set-up (profiles, config and credentials files, instance metadata, endpoint
overrides), which botocore would otherwise read."""

from __future__ import annotations

from pathlib import Path

import pytest

CLEARED = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_OMICS",
    "AWS_DEFAULT_REGION",
)


def isolate_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, key: str, secret: str) -> None:
    for name in CLEARED:
        monkeypatch.delenv(name, raising=False)
    for name, value in (
        ("AWS_ACCESS_KEY_ID", key),
        ("AWS_SECRET_ACCESS_KEY", secret),
        ("AWS_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config")),
        ("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials")),
    ):
        monkeypatch.setenv(name, value)

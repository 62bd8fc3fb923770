"""The distribution has a name of its own (the index's `reconciler` is an unrelated
project), every install line uses it, and `python -m build` makes an sdist and a wheel
whose metadata passes `twine check` -- offline, from the installed setuptools."""

from __future__ import annotations

import email
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

import reconciler

ROOT = Path(__file__).resolve().parents[2]
NAME = "evalqueue-reconciler"
# `pip install reconciler`, `pip install -U 'reconciler[omics]'`, `pip install "reconciler>=1"`
OTHER_PROJECT = re.compile(r"pip3? install\s+(?:-{1,2}[\w-]+\s+)*['\"]?reconciler(?![\w-])")
SKIP_DIRS = {".git", ".venv", "build", "dist", "__pycache__", ".pytest_cache", ".hypothesis", ".reconciler"}


def repository_texts():
    for path in sorted(ROOT.rglob("*")):
        if set(path.relative_to(ROOT).parts) & SKIP_DIRS or ".egg-info" in str(path) or not path.is_file():
            continue
        try:
            yield path, path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue


def test_the_scan_recognises_every_spelling():
    for line in (
        "pip install reconciler",
        "pip install 'reconciler[omics]'",
        "pip install -U reconciler",
        'pip3 install "reconciler>=0.1"',
    ):
        assert OTHER_PROJECT.search(line), line
    for line in (
        f"pip install {NAME}",
        f"pip install '{NAME}[omics]'",
        "pip install -q -e '.[test]'",
        "pip install reconciler-tools",
    ):
        assert not OTHER_PROJECT.search(line), line


def test_no_install_line_installs_the_other_project():
    """`pip install reconciler` installs someone else's Pandas tool; a copied CI job then
    fails with `reconciler: command not found`."""
    found = [
        f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, m.start()) + 1}: {m.group(0)}"
        for path, text in repository_texts()
        if path.name != "test_packaging.py"
        for m in OTHER_PROJECT.finditer(text)
    ]
    assert not found, "\n".join(found)


def test_readme_installs_the_distribution_and_keeps_the_checkout_blocks():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"^```sh\n(.*?)^```", readme, flags=re.S | re.M)
    assert blocks[0] == (
        "python3 -m venv .venv && .venv/bin/pip install -q . && "
        ".venv/bin/reconciler plan examples/challenge/spec.yaml\n"
    )
    assert (
        blocks[1]
        == "python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]' && .venv/bin/python -m pytest -q -n 2 --cov\n"
    )
    assert f"pip install {NAME}" in readme and f"pip install '{NAME}[omics]'" in readme


def test_release_workflow_builds_checks_and_publishes_on_a_tag():
    workflow = yaml.safe_load((ROOT / "examples" / "release" / "release.yml").read_text())
    assert workflow[True] == {"push": {"tags": ["v*"]}}  # `on:` is YAML 1.1's true
    runs = [step.get("run", "") for job in workflow["jobs"].values() for step in job["steps"]]
    assert "python -m build" in runs and any("twine check" in r for r in runs)
    publish = workflow["jobs"]["publish"]
    assert publish["permissions"] == {"id-token": "write"}  # trusted publishing: no stored token
    assert any(step.get("uses", "").startswith("pypa/gh-action-pypi-publish@") for step in publish["steps"])
    assert "password" not in str(publish)


@pytest.mark.slow
def test_build_makes_a_wheel_whose_metadata_passes_twine_check(tmp_path):
    """Built from a copy of the source (the checkout gets no build/ or egg-info) with the
    installed setuptools, so no network is needed."""
    src = tmp_path / "src"
    shutil.copytree(ROOT / "reconciler", src / "reconciler", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    dist = tmp_path / "dist"
    built = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--sdist", "--wheel", "--outdir", str(dist), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (wheel,) = dist.glob("*.whl")
    (sdist,) = dist.glob("*.tar.gz")
    assert wheel.name == f"evalqueue_reconciler-{reconciler.__version__}-py3-none-any.whl"
    checked = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(wheel), str(sdist)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        meta = email.message_from_bytes(zf.read(meta_name))
        entry_points = zf.read(meta_name.replace("METADATA", "entry_points.txt")).decode()
    assert meta["Name"] == NAME and meta["Version"] == reconciler.__version__
    assert meta["License-Expression"] == "Apache-2.0"
    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL"))
    assert {"Homepage", "Documentation", "Source", "Issues"} <= set(urls)
    classifiers = meta.get_all("Classifier")
    assert "Typing :: Typed" in classifiers and "Programming Language :: Python :: 3.11" in classifiers
    assert {"omics", "test"} <= set(meta.get_all("Provides-Extra"))
    assert meta["Description-Content-Type"] == "text/markdown"
    assert "reconciler = reconciler.cli:run" in entry_points  # the command keeps its name
    assert {"reconciler/py.typed", "reconciler/__init__.py", "reconciler/schemas/spec.schema.json"} <= names

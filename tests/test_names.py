"""A reader of the package meets each class name once (issue 28, "Names"): two classes
named `WriteResult` (the provider contract's and the local store's) made every import
of one a question of which."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import reconciler

PACKAGE = Path(reconciler.__file__).parent


def test_write_result_is_one_class_in_the_package():
    where: dict[str, list[str]] = defaultdict(list)
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.ClassDef):
                where[node.name].append(str(path.relative_to(PACKAGE)))
    assert where["WriteResult"] == ["providers/base.py"]

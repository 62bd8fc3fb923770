"""The JSON renderer (reconciler/render/json.py): the plan file's document."""

from __future__ import annotations

import pytest
from golden_files import PLANS, check_golden
from plan_samples import META, normal_plan

from reconciler.planfile import dump_plan
from reconciler.render.json import render_plan_json


@pytest.mark.parametrize("name", sorted(PLANS))
def test_json_golden(name):
    check_golden(f"{name}.json", render_plan_json(PLANS[name](), **META))


def test_json_renderer_is_the_plan_file_document():
    assert render_plan_json(normal_plan(), **META) + "\n" == dump_plan(normal_plan(), **META)

"""Seed files: the initial items of the embedded store and of the sandbox.

```yaml
queues:
  - id: "9615000"
    items:
      - {id: "9700001", status: RECEIVED, tags: {score: 0.5}, locked: false}
```
Each item may also carry `extra`, a mapping of native fields the engine does not manage
(e.g. Synapse's `canCancel`), so demos can show that those survive writes.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any, NoReturn

from .errors import UserError
from .model import Scalar, TagValue, decode_scalar, to_scalar
from .store import NewItem
from .yamlload import Document, read_yaml

_QUEUE_KEYS = {"id", "items"}
_ITEM_KEYS = {"id", "status", "tags", "locked", "extra"}


def load_seed(path: str | Path) -> dict[str, list[NewItem]]:
    """Read and validate a seed file (JSON or YAML) → items per queue id, in file order.

    Errors name the offending place: `FILE:LINE:COLUMN: queues[0].items[2].locked: …` for
    YAML, `FILE: queues[0]…: …` for JSON."""
    path = Path(path)
    data, problems = _read(path, str(path))
    if not isinstance(data, dict) or set(data) - {"queues"}:
        problems.fail((), "must be a mapping with one key, `queues`")
    queues = data.get("queues")
    if not isinstance(queues, list):
        problems.fail(("queues",), "must be a list of queues")
    out: dict[str, list[NewItem]] = {}
    owner: dict[str, str] = {}  # item id → queue, ids are unique across queues
    for qi, queue in enumerate(queues):
        where = ("queues", qi)
        if not isinstance(queue, dict):
            problems.fail(where, "must be a mapping with `id` and `items`")
        _no_unknown_keys(problems, where, queue, _QUEUE_KEYS)
        queue_id = _id(problems, where + ("id",), queue.get("id"))
        if queue_id in out:
            problems.fail(where + ("id",), f"queue {queue_id} is listed twice")
        items = queue.get("items", [])
        if not isinstance(items, list):
            problems.fail(where + ("items",), "must be a list of items")
        out[queue_id] = []
        for ii, item in enumerate(items):
            new = _item(problems, where + ("items", ii), item)
            if new.id in owner:
                problems.fail(where + ("items", ii, "id"), f"item {new.id} already appears in queue {owner[new.id]}")
            owner[new.id] = queue_id
            out[queue_id].append(new)
    return out


class _Problems:
    """Raises one UserError at a place in the seed, located when the file is YAML."""

    def __init__(self, display: str, document: Document | None = None) -> None:
        self.display, self.document = display, document

    def fail(self, path: tuple, message: str) -> NoReturn:
        text = f"{_dotted(path)}: {message}" if path else message
        if self.document is not None:
            raise self.document.error(path, text)
        raise UserError(f"{self.display}: {text}")


def _dotted(path: tuple) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _read(path: Path, display: str) -> tuple[Any, _Problems]:
    if not path.is_file():
        raise UserError(f"{display}: seed file not found")
    if path.suffix.lower() != ".json":
        document = read_yaml(path, display)
        return document.data, _Problems(display, document)
    try:
        return json.loads(path.read_text(encoding="utf-8")), _Problems(display)
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"{display}: cannot read seed file ({e})") from None
    except ValueError as e:
        raise UserError(f"{display}: not valid JSON ({e})") from None


def _no_unknown_keys(problems: _Problems, where: tuple, obj: dict, allowed: set[str]) -> None:
    unknown = sorted(str(k) for k in set(obj) - allowed)
    if unknown:
        problems.fail(where, f"unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})")


def _id(problems: _Problems, where: tuple, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        problems.fail(where, "must be a non-empty string (quote numeric ids)")
    return value


def _item(problems: _Problems, where: tuple, item: Any) -> NewItem:
    if not isinstance(item, dict):
        problems.fail(where, "must be a mapping with at least `id`")
    _no_unknown_keys(problems, where, item, _ITEM_KEYS)
    item_id = _id(problems, where + ("id",), item.get("id"))
    status = item.get("status", "RECEIVED")
    if not isinstance(status, str) or not status:
        problems.fail(where + ("status",), "must be a non-empty string")
    locked = item.get("locked", False)
    if not isinstance(locked, bool):
        problems.fail(where + ("locked",), "must be true or false")
    tags = item.get("tags", {})
    if not isinstance(tags, dict):
        problems.fail(where + ("tags",), "must be a mapping of tag names to values")
    extra = item.get("extra", {})
    if not isinstance(extra, dict):
        problems.fail(where + ("extra",), "must be a mapping")
    try:
        json.dumps(extra, allow_nan=False)
    except (TypeError, ValueError):
        problems.fail(where + ("extra",), "must hold only JSON values")
    return NewItem(
        id=item_id,
        status=status,
        locked=locked,
        extra=extra,
        tags={str(k): _tag_value(problems, where + ("tags", k), v) for k, v in tags.items()},
    )


def _tag_value(problems: _Problems, where: tuple, value: Any) -> TagValue:
    if value is None:
        problems.fail(where, "a seed cannot hold a null tag; leave the key out")
    if isinstance(value, list):
        return tuple(_scalar(problems, where + (i,), v) for i, v in enumerate(value))
    return (_scalar(problems, where, value),)


def _scalar(problems: _Problems, where: tuple, value: Any) -> Scalar:
    try:
        if isinstance(value, dict):  # the JSON encoding, e.g. {"timestamp": "2024-…Z"}
            return decode_scalar(value)
        if isinstance(value, (str, bool, int, float, date)):
            return to_scalar(value)
    except ValueError as e:
        problems.fail(where, str(e))
    problems.fail(where, f"not a tag value: {value!r} (use a string, number, boolean, timestamp or a list of them)")

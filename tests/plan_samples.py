"""Representative plans shared by the plan file and renderer tests (and their goldens)."""

from __future__ import annotations

from datetime import datetime, timezone

from reconciler.model import Change, FieldChange, Plan, QueuePlan, Safety, Source

ENDPOINT = "http://127.0.0.1:8080/repo/v1"
DIGEST = "5f2b0c0e" * 8
META = {
    "tool_version": "1.2.3",
    "created_at": "2026-01-02T03:04:05Z",
}

SPEC = "spec.yaml"
ACCEPT = Source(SPEC, 14, "accept-validated")
FREEZE = Source(SPEC, 18, "freeze-round-1")
SCORES = Source("scores/round-2.yaml", 3)
EXPLICIT = Source(SPEC, 30)
TS = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=timezone.utc)


def base(item_id: str, etag: str, status: str, **extra: object) -> dict:
    """A Synapse-like SubmissionStatus as read (the shape does not matter to the plan)."""
    return {"id": item_id, "etag": etag, "status": status, "statusVersion": 3, **extra}


def change(item_id: str, status: str, *fields: FieldChange, **kwargs: object) -> Change:
    etag = f"etag-{item_id}"
    return Change(item_id, etag, tuple(fields), base=base(item_id, etag, status), **kwargs)  # type: ignore[arg-type]


def empty_plan() -> Plan:
    return Plan(
        "synapse",
        ENDPOINT,
        DIGEST,
        (QueuePlan("9615000", 12, ()), QueuePlan("9615001", 40, (), Safety(10, 5), "frozen")),
    )


def normal_plan() -> Plan:
    changes = (
        change(
            "9700001",
            "VALIDATED",
            FieldChange("status", "VALIDATED", "ACCEPTED", ACCEPT),
            FieldChange("tags.score", (0.5,), (0.91,), SCORES),
        ),
        change("9700002", "ACCEPTED", FieldChange("locked", False, True, FREEZE), lock="lock"),
        change(
            "9700003",
            "SCORED",
            FieldChange("status", "SCORED", "INVALID", EXPLICIT),
            FieldChange("tags.reason", None, ("wrong format",), EXPLICIT),
            FieldChange("tags.score", (0.2,), None, EXPLICIT),
            FieldChange("locked", True, False, EXPLICIT),
            lock="unlock",
        ),
        change(
            "9700004",
            "RECEIVED",
            FieldChange("tags.labels", ("a", "b"), ("a", "b", 3, True), EXPLICIT),
            FieldChange("tags.metric", (float("nan"),), (float("inf"), float("-inf")), EXPLICIT),
            FieldChange("tags.note", ("a | b",), ("<script>alert(`x`)</script>",), EXPLICIT),
            FieldChange("tags.rank", (1,), (1.0,), EXPLICIT),
            FieldChange("tags.submitted_at", None, (TS,), EXPLICIT),
        ),
        change("9700005", "SCORED", FieldChange("status", "SCORED", "INVALID", Source(SPEC, 33)), blocked=True),
        change("9700006", "ACCEPTED", FieldChange("tags.stale", ("x",), None, None)),
    )
    return Plan(
        "synapse",
        ENDPOINT,
        DIGEST,
        (QueuePlan("9615000", 12, changes), QueuePlan("9615001", 40, (), Safety(10, 5), "frozen")),
    )


def big_plan(n: int = 2_000) -> Plan:
    changes = tuple(
        change(
            str(9_800_000 + i),
            "VALIDATED",
            FieldChange("status", "VALIDATED", "ACCEPTED", ACCEPT),
            FieldChange("tags.score", None, (i / 1000,), SCORES),
        )
        for i in range(n)
    )
    return Plan("synapse", ENDPOINT, DIGEST, (QueuePlan("9615002", n * 2, changes, Safety(100)),))


def field_plan(value: object, item_id: str = "9700001", queue_id: str = "9615000") -> Plan:
    """One change setting tag `note` to `value`: what a renderer must show safely."""
    changed = change(item_id, "RECEIVED", FieldChange("tags.note", None, (value,), Source("spec.yaml", 7)))
    return Plan("local", "db", "d", (QueuePlan(queue_id, 1, (changed,)),))

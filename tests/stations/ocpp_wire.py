"""Checks on the raw frames the server sends, shared by the OCPP 1.6 test modules.

The server's answers are checked here against the 1.6 JSON schemas with a strict
date-time rule of our own (RFC 3339 with a UTC offset), independently of the server's
own validation in stations/ocpp/rpc.py, so a bug there cannot hide itself.
"""

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import ocpp
from jsonschema import Draft4Validator, FormatChecker

SCHEMAS = Path(ocpp.__file__).parent / "v16" / "schemas"
DATETIME_WITH_OFFSET = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"
)

_formats = FormatChecker(formats=())


@_formats.checks("date-time")
def _has_offset(value: object) -> bool:
    return not isinstance(value, str) or bool(DATETIME_WITH_OFFSET.match(value))


def iso(moment: datetime) -> str:
    """A charger's timestamp, as most chargers write it."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def ago(**delta: float) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(**delta)


def new_id() -> str:
    return uuid.uuid4().hex[:20]


def assert_answer(action: str, frame: list[Any], unique_id: str) -> dict[str, Any]:
    """A CALLRESULT to `unique_id` whose payload is schema-valid, times with offset."""
    assert frame[0] == 3, frame
    assert frame[1] == unique_id, frame
    assert len(frame) == 3, frame
    schema = json.loads((SCHEMAS / f"{action}Response.json").read_text(encoding="utf-8-sig"))
    Draft4Validator(schema, format_checker=_formats).validate(frame[2])
    return frame[2]


def assert_call_error(frame: list[Any], unique_id: str, code: str) -> None:
    """A well-formed CALLERROR (OCPP-J 1.6 §4.2.2) to `unique_id` with `code`."""
    assert frame[0] == 4, frame
    assert len(frame) == 5, frame
    assert frame[1] == unique_id, frame
    assert frame[2] == code, frame
    assert isinstance(frame[3], str) and frame[3], frame
    assert isinstance(frame[4], dict), frame


async def send(cp: Any, action: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Send a CALL as raw text and return the schema-checked CALLRESULT payload."""
    unique_id = str(uuid.uuid4())
    frame = await cp.raw([2, unique_id, action, payload])
    return assert_answer(action, frame, unique_id)


async def send_expecting_error(cp: Any, action: str, payload: Any, code: str) -> list[Any]:
    unique_id = str(uuid.uuid4())
    frame = await cp.raw([2, unique_id, action, payload])
    assert_call_error(frame, unique_id, code)
    return frame


async def assert_still_up(cp: Any) -> None:
    """The connection still serves: a Heartbeat is answered."""
    answer = await send(cp, "Heartbeat", {})
    assert answer["currentTime"].endswith("Z")

"""Every OCPP-J 1.6 error rule (§4.2.3), and the connection surviving each bad frame."""

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async

from stations.models import OcppMessage, StatusEvent
from tests.conftest import eventually
from tests.stations.ocpp_wire import (
    ago,
    assert_call_error,
    assert_still_up,
    iso,
    send_expecting_error,
)

STATUS = {"connectorId": 1, "errorCode": "NoError", "status": "Available"}
SAMPLE = {"timestamp": "2026-01-01T10:00:00Z", "sampledValue": [{"value": "10"}]}


# --- Action-level errors -----------------------------------------------------------------


async def test_unknown_action_is_answered_not_implemented(charger):
    async with charger("CP-ERR-UNKNOWN") as cp:
        await send_expecting_error(cp, "FlyToTheMoon", {}, "NotImplemented")
        await assert_still_up(cp)


@pytest.mark.parametrize("action", ["Reset", "RemoteStartTransaction", "GetConfiguration"])
async def test_known_action_the_server_does_not_take_from_chargers_is_not_supported(
    charger, action
):
    async with charger(f"CP-ERR-NS-{action[:12]}") as cp:
        await send_expecting_error(cp, action, {"type": "Hard"}, "NotSupported")
        await assert_still_up(cp)


# --- Frames that cannot be taken apart ---------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("this is not json", id="not-json"),
        pytest.param('[2, "abc", "Heartbeat", {}', id="truncated-json"),
        pytest.param('{"messageTypeId": 2}', id="object-not-array"),
        pytest.param("[]", id="empty-array"),
        pytest.param('"Heartbeat"', id="string-not-array"),
        pytest.param("[2]", id="no-message-id"),
        pytest.param('[2, 17, "Heartbeat", {}]', id="message-id-not-a-string"),
        pytest.param(json.dumps([2, "x" * 37, "Heartbeat", {}]), id="message-id-over-36"),
    ],
)
async def test_unreadable_frame_is_formation_violation_with_message_id_minus_one(charger, text):
    async with charger("CP-ERR-UNREADABLE") as cp:
        assert_call_error(await cp.raw(text), "-1", "FormationViolation")
        await assert_still_up(cp)


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param([2, "m-1", "Heartbeat", []], id="payload-array"),
        pytest.param([2, "m-1", "Heartbeat", "{}"], id="payload-string"),
        pytest.param([2, "m-1", "Heartbeat", None], id="payload-null"),
        pytest.param([2, "m-1", "Heartbeat"], id="payload-missing"),
        pytest.param([2, "m-1", "Heartbeat", {}, {}], id="extra-element"),
        pytest.param([2, "m-1", 7, {}], id="action-not-a-string"),
        pytest.param([9, "m-1", "Heartbeat", {}], id="unknown-message-type"),
    ],
)
async def test_call_with_broken_structure_is_formation_violation_with_its_id(charger, frame):
    async with charger("CP-ERR-STRUCTURE") as cp:
        assert_call_error(await cp.raw(frame), "m-1", "FormationViolation")
        await assert_still_up(cp)


# --- Payloads that break the 1.6 schema -----------------------------------------------------


@pytest.mark.parametrize(
    ("action", "payload", "code"),
    [
        pytest.param("Heartbeat", {"extra": 1}, "FormationViolation", id="additional-property"),
        pytest.param(
            "StatusNotification",
            {**STATUS, "colour": "green"},
            "FormationViolation",
            id="additional-property-nested-action",
        ),
        pytest.param(
            "MeterValues",
            {"connectorId": 1, "meterValue": [{**SAMPLE, "note": "x"}]},
            "FormationViolation",
            id="additional-property-deep",
        ),
        pytest.param(
            "StatusNotification",
            {"errorCode": "NoError", "status": "Available"},
            "ProtocolError",
            id="missing-required-field",
        ),
        pytest.param(
            "MeterValues",
            {"connectorId": 1, "meterValue": [{"timestamp": "2026-01-01T10:00:00Z"}]},
            "ProtocolError",
            id="missing-required-field-deep",
        ),
        pytest.param("Authorize", {}, "ProtocolError", id="missing-id-tag"),
        pytest.param(
            "StatusNotification",
            {**STATUS, "connectorId": "1"},
            "TypeConstraintViolation",
            id="string-for-integer",
        ),
        pytest.param(
            "StartTransaction",
            {"connectorId": 1, "idTag": "A", "meterStart": 1.5, "timestamp": iso(ago())},
            "TypeConstraintViolation",
            id="decimal-for-integer",
        ),
        pytest.param(
            "StatusNotification",
            {**STATUS, "connectorId": True},
            "TypeConstraintViolation",
            id="boolean-for-integer",
        ),
        pytest.param(
            "MeterValues",
            {"connectorId": 1, "meterValue": [{**SAMPLE, "sampledValue": [{"value": 10}]}]},
            "TypeConstraintViolation",
            id="number-for-string",
        ),
        pytest.param(
            "MeterValues",
            {"connectorId": 1, "meterValue": SAMPLE},
            "TypeConstraintViolation",
            id="object-for-array",
        ),
        pytest.param(
            "StatusNotification",
            {**STATUS, "status": "Sleeping"},
            "PropertyConstraintViolation",
            id="value-outside-enum",
        ),
        pytest.param(
            "Authorize",
            {"idTag": "X" * 21},
            "PropertyConstraintViolation",
            id="string-over-max-length",
        ),
        pytest.param(
            "StatusNotification",
            {**STATUS, "timestamp": "yesterday"},
            "PropertyConstraintViolation",
            id="malformed-date-time",
        ),
        pytest.param(
            "StatusNotification",
            {**STATUS, "timestamp": "2026-01-01"},
            "PropertyConstraintViolation",
            id="date-without-time",
        ),
        pytest.param(
            "StatusNotification",
            {**STATUS, "timestamp": "2026-13-01T10:00:00Z"},
            "PropertyConstraintViolation",
            id="impossible-date",
        ),
        pytest.param(
            "StatusNotification",
            {**STATUS, "connectorId": -1},
            "PropertyConstraintViolation",
            id="connector-id-negative",
        ),
        pytest.param(
            "StatusNotification",
            {**STATUS, "connectorId": 100000},
            "PropertyConstraintViolation",
            id="connector-id-too-high",
        ),
        pytest.param(
            "StartTransaction",
            {"connectorId": 0, "idTag": "A", "meterStart": 0, "timestamp": iso(ago())},
            "PropertyConstraintViolation",
            id="transaction-on-connector-0",
        ),
        pytest.param(
            "MeterValues",
            {"connectorId": 1, "meterValue": []},
            "OccurenceConstraintViolation",
            id="empty-meter-value-array",
        ),
        pytest.param(
            "MeterValues",
            {"connectorId": 1, "meterValue": [{**SAMPLE, "sampledValue": []}]},
            "OccurenceConstraintViolation",
            id="empty-sampled-value-array",
        ),
    ],
)
async def test_payload_breaking_the_schema_gets_the_1_6_error_code(charger, action, payload, code):
    async with charger("CP-ERR-SCHEMA") as cp:
        await send_expecting_error(cp, action, payload, code)
        await assert_still_up(cp)


async def test_rejected_status_notification_stores_nothing(charger):
    async with charger("CP-ERR-NOSTORE") as cp:
        await send_expecting_error(
            cp, "StatusNotification", {**STATUS, "connectorId": -1}, "PropertyConstraintViolation"
        )
        await send_expecting_error(
            cp,
            "StatusNotification",
            {**STATUS, "status": "Sleeping"},
            "PropertyConstraintViolation",
        )
    assert not await sync_to_async(
        StatusEvent.objects.filter(connector__charge_point__charge_point_id="CP-ERR-NOSTORE").exists
    )()


# --- Answers from the charger that cannot be used -------------------------------------------


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param([3, "answer-1"], id="callresult-without-payload"),
        pytest.param([3, "answer-1", "ok"], id="callresult-payload-not-object"),
        pytest.param([4, "answer-1", "GenericError"], id="callerror-too-short"),
        pytest.param([4, "answer-1", 5, "x", {}], id="callerror-code-not-string"),
        pytest.param([3, "answer-1", {}], id="callresult-to-unknown-id"),
        pytest.param([4, "answer-1", "GenericError", "boom", {}], id="callerror-to-unknown-id"),
    ],
)
async def test_unusable_answer_from_charger_is_dropped_without_reply_and_logged(charger, frame):
    async with charger("CP-ERR-ANSWER") as cp:
        await cp._connection.send(json.dumps(frame))
        # The next frame the server sends answers the Heartbeat: nothing answered the answer.
        await assert_still_up(cp)
    text = json.dumps(frame)

    def logged_in_only() -> bool:
        rows = OcppMessage.objects.filter(charge_point_id="CP-ERR-ANSWER", unique_id="answer-1")
        return [(row.direction, row.frame) for row in rows] == [("in", text)]

    assert await eventually(logged_in_only)


# --- Frame size -----------------------------------------------------------------------------


async def test_frame_over_the_size_limit_closes_the_socket_with_1009(charger, each_server):
    async with charger("CP-ERR-BIG", server=each_server) as cp:
        await assert_still_up(cp)
        big = json.dumps([2, "big-1", "DataTransfer", {"vendorId": "V", "data": "x" * 17000}])
        assert len(big.encode()) > 16 * 1024
        await cp._connection.send(big)
        await asyncio.wait_for(cp._connection.wait_closed(), 10)
        assert cp._connection.close_code == 1009


async def test_frame_just_under_the_size_limit_is_served(charger, each_server):
    async with charger("CP-ERR-FITS", server=each_server) as cp:
        frame = [2, "fits-1", "DataTransfer", {"vendorId": "V", "data": ""}]
        padding = 16 * 1024 - len(json.dumps(frame).encode())
        frame[3]["data"] = "x" * padding
        assert len(json.dumps(frame).encode()) == 16 * 1024
        answer = await cp.raw(frame)
        assert answer[:2] == [3, "fits-1"]
        await assert_still_up(cp)

"""What a broken or hostile charger can send, answered by the rules of OCPP-J 1.6 §4.2.3.

Nothing a charger sends may crash its connection, poison the message log for the other
chargers, or forge lines in the server's log. These tests run on a server of their own,
so that its log can be checked for tracebacks.
"""

import asyncio
import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.utils import timezone
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from chargehub.servers import SERVERS
from stations import bulk_insert
from stations.models import ChargePoint, ChargingSession, MeterSample, OcppMessage
from stations.ocpp import commands, connections, message_log
from tests.conftest import basic_auth, eventually
from tests.stations.ocpp_wire import (
    ago,
    assert_call_error,
    assert_still_up,
    iso,
    send,
    send_expecting_error,
)

STATUS = {"connectorId": 1, "errorCode": "NoError", "status": "Available"}


@pytest.fixture(scope="module", params=SERVERS)
def hostile_server(start_server, request):
    """Each server in turn: what reaches the application, and how, is partly theirs."""
    return start_server("--server", request.param)


def server_log(tmp_path_factory, url: str) -> str:
    """What the server at `url` (started by start_server) has logged so far."""
    port = urlsplit(url).port
    logs = Path(tmp_path_factory.getbasetemp()).glob(f"server-logs*/server-{port}.log")
    (path,) = {log.resolve() for log in logs}  # pytest links server-logscurrent to it
    return path.read_text(errors="replace")


def _connected(charge_point_id: str) -> bool:
    return ChargePoint.objects.get(charge_point_id=charge_point_id).is_connected


# --- Text that cannot be stored: NUL and lone surrogates (point 4) ---------------------------


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param('[2, "nul\\u0000id", "Heartbeat", {}]', id="nul-in-message-id"),
        pytest.param('[2, "sur\\ud800id", "Heartbeat", {}]', id="lone-surrogate-in-message-id"),
    ],
)
async def test_message_id_that_cannot_be_stored_is_formation_violation_with_id_minus_one(
    charger, hostile_server, frame
):
    async with charger("CP-HOST-NULID", server=hostile_server) as cp:
        assert_call_error(await cp.raw(frame), "-1", "FormationViolation")
        await assert_still_up(cp)


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param('[2, "m-1", "Heart\\u0000beat", {}]', id="nul-in-action"),
        pytest.param('[2, "m-1", "Authorize", {"idTag": "A\\u0000B"}]', id="nul-in-a-value"),
        pytest.param('[2, "m-1", "Heartbeat", {"x\\u0000": 1}]', id="nul-in-a-key"),
        pytest.param('[2, "m-1", "Authorize", {"idTag": "A\\udc00"}]', id="lone-surrogate"),
        pytest.param('[2, "m-1", "Authorize", {"idTag": "\\ud83d"}]', id="half-an-emoji"),
    ],
)
async def test_call_with_text_that_cannot_be_stored_is_formation_violation_with_its_id(
    charger, hostile_server, frame
):
    async with charger("CP-HOST-NUL", server=hostile_server) as cp:
        assert_call_error(await cp.raw(frame), "m-1", "FormationViolation")
        await assert_still_up(cp)


async def test_frame_with_a_nul_is_logged_escaped_and_other_chargers_frames_are_kept(
    charger, hostile_server
):
    bad = '[2, "nul-1", "Heartbeat", {}]\x00'
    async with (
        charger("CP-HOST-LOG-BAD", server=hostile_server) as poisoner,
        charger("CP-HOST-LOG-OK", server=hostile_server) as neighbour,
    ):
        # The poisoner's frame and the neighbour's land in the same batch of the log. Its
        # answer is taken here: read later, it would be taken for the next call's.
        assert_call_error(await poisoner.raw(bad), "-1", "FormationViolation")
        await assert_still_up(neighbour)
        await assert_still_up(poisoner)

    def logged() -> bool:
        frames = set(
            OcppMessage.objects.filter(
                charge_point_id="CP-HOST-LOG-BAD", direction="in"
            ).values_list("frame", flat=True)
        )
        neighbour_kept = OcppMessage.objects.filter(
            charge_point_id="CP-HOST-LOG-OK", action="Heartbeat"
        ).exists()
        return neighbour_kept and '[2, "nul-1", "Heartbeat", {}]\\u0000' in frames

    assert await eventually(logged)


def test_a_log_row_the_database_refuses_does_not_lose_the_rest_of_its_batch(transactional_db):
    # No transaction around the write, as the flusher has: on PostgreSQL the batch is
    # then one COPY, no savepoint.
    def entry(unique_id: str, message_type: int) -> message_log.Entry:
        return message_log.Entry(
            charge_point_id="CP-HOST-BATCH",
            direction="in",
            message_type=message_type,
            unique_id=unique_id,
            action="Heartbeat",
            frame="[]",
            created_at=timezone.now(),
        )

    # A negative message type breaks the column's check constraint on every database.
    message_log.write([entry("first", 2), entry("refused", -1), entry("last", 2)])

    stored = OcppMessage.objects.filter(charge_point_id="CP-HOST-BATCH")
    assert sorted(stored.values_list("unique_id", flat=True)) == ["first", "last"]


def test_a_log_entry_is_the_message_log_columns_in_their_order():
    # On PostgreSQL an Entry is written by COPY as it is (bulk_insert.copy, ready=True).
    columns = tuple(field.attname for field in bulk_insert.fields(OcppMessage))
    assert message_log.Entry._fields == columns


def test_a_log_batch_keeps_each_frame_and_its_time_exactly(transactional_db):
    # COPY's text format (PostgreSQL) gives a backslash a meaning: a frame's JSON escapes
    # and a "\\N" (COPY's NULL) must come back as they were sent.
    frames = [
        '[2, "1", "DataTransfer", {"vendorId": "V", "data": "x\\ny\\tz\\\\"}]',
        "a\\Nb Ünïcødé ⚡",
    ]
    created_at = timezone.now().replace(microsecond=123456)
    message_log.write(
        [
            message_log.Entry(
                charge_point_id="CP-HOST-EXACT",
                direction="in",
                message_type=2,
                unique_id=f"id-{number}",
                action="DataTransfer",
                frame=frame,
                created_at=created_at,
            )
            for number, frame in enumerate(frames)
        ]
    )

    stored = OcppMessage.objects.filter(charge_point_id="CP-HOST-EXACT").order_by("unique_id")
    assert [(row.unique_id, row.frame, row.created_at) for row in stored] == [
        (f"id-{number}", frame, created_at) for number, frame in enumerate(frames)
    ]


# --- What a charger can send must not crash its connection (point 5) -------------------------


async def test_deeply_nested_frame_is_formation_violation_and_the_charger_stays_connected(
    charger, hostile_server, tmp_path_factory
):
    deep = "[" * 6000 + "]" * 6000  # 12 kB: under the 16 kB frame limit of the tests
    logged_before = len(server_log(tmp_path_factory, hostile_server))
    async with charger("CP-HOST-DEEP", server=hostile_server) as cp:
        assert_call_error(await cp.raw(deep), "-1", "FormationViolation")
        await assert_still_up(cp)
        assert await sync_to_async(_connected)("CP-HOST-DEEP")
    assert "Traceback" not in server_log(tmp_path_factory, hostile_server)[logged_before:]


async def test_nesting_deeper_than_any_ocpp_message_is_formation_violation_with_its_id(
    charger, hostile_server
):
    # Deep enough to matter, shallow enough for the JSON parser: the depth rule decides.
    payload = "[" * 200 + "]" * 200
    async with charger("CP-HOST-DEEPID", server=hostile_server) as cp:
        frame = await cp.raw(f'[2, "deep-1", "FlyToTheMoon", {{"x": {payload}}}]')
        assert_call_error(frame, "deep-1", "FormationViolation")
        await assert_still_up(cp)


async def test_consumer_event_that_fails_closes_the_socket_and_marks_the_charger_disconnected(
    charger, hostile_server
):
    # A group message the consumer cannot handle (a command without its fields) stands
    # for any bug in an event handler: it must not leave a charger marked connected.
    async with charger("CP-HOST-FAIL", server=hostile_server) as cp:
        await assert_still_up(cp)
        group = connections.charge_point_group("CP-HOST-FAIL")
        await get_channel_layer().group_send(group, {"type": "ocpp.command"})
        await asyncio.wait_for(cp._connection.wait_closed(), 10)
        assert cp._connection.close_code == 4011

    def disconnected() -> bool:
        return not _connected("CP-HOST-FAIL")

    assert await eventually(disconnected)


@pytest.mark.parametrize(
    ("action", "payload"),
    [
        pytest.param(
            "StartTransaction",
            {"connectorId": 1, "idTag": "A", "meterStart": 2**70, "timestamp": iso(ago())},
            id="meter-start-2-to-the-70",
        ),
        pytest.param(
            "StartTransaction",
            {"connectorId": 1, "idTag": "A", "meterStart": -(2**70), "timestamp": iso(ago())},
            id="meter-start-minus-2-to-the-70",
        ),
        pytest.param(
            "StartTransaction",
            {
                "connectorId": 1,
                "idTag": "A",
                "meterStart": 0,
                "timestamp": iso(ago()),
                "reservationId": 2**40,
            },
            id="reservation-id-2-to-the-40",
        ),
        pytest.param(
            "StopTransaction",
            {"transactionId": 1, "meterStop": 2**70, "timestamp": iso(ago())},
            id="meter-stop-2-to-the-70",
        ),
    ],
)
async def test_integer_beyond_the_32_bits_of_an_ocpp_integer_is_type_constraint_violation(
    charger, hostile_server, action, payload
):
    async with charger("CP-HOST-BIGINT", server=hostile_server) as cp:
        await send_expecting_error(cp, action, payload, "TypeConstraintViolation")
        await assert_still_up(cp)
    assert not await sync_to_async(
        ChargingSession.objects.filter(charge_point__charge_point_id="CP-HOST-BIGINT").exists
    )()


@pytest.mark.parametrize(
    "limit",
    [
        pytest.param(1e300, id="beyond-decimal-precision"),
        pytest.param(float("inf"), id="infinity"),
        pytest.param(float("nan"), id="nan"),
    ],
)
async def test_command_answered_with_a_number_no_ocpp_decimal_holds_is_an_invalid_answer(
    charger, hostile_server, limit
):
    async with charger("CP-HOST-ANSWER", server=hostile_server) as cp:
        await cp.boot()
        cp.answers["GetCompositeSchedule"] = {
            "status": "Accepted",
            "connectorId": 1,
            "scheduleStart": "2026-01-01T00:00:00Z",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}],
            },
        }
        with pytest.raises(commands.InvalidAnswer):
            await commands.send_payload(
                "CP-HOST-ANSWER", "GetCompositeSchedule", {"connectorId": 1, "duration": 60}
            )
        await assert_still_up(cp)


@pytest.mark.parametrize("value", ["-1e999999999", "1e999999999", "1e-999999999"])
async def test_meter_value_whose_number_overflows_a_decimal_is_kept_as_text(
    charger, hostile_server, value
):
    async with charger("CP-HOST-METER", server=hostile_server) as cp:
        await send(
            cp,
            "MeterValues",
            {
                "connectorId": 1,
                "meterValue": [{"timestamp": iso(ago()), "sampledValue": [{"value": value}]}],
            },
        )
        await assert_still_up(cp)

    def stored() -> MeterSample | None:
        return MeterSample.objects.filter(
            charge_point__charge_point_id="CP-HOST-METER", value=value
        ).first()

    sample = await eventually(stored)
    assert sample is not None
    assert sample.value_decimal is None or sample.value_decimal == 0


# --- The charge point id and the WebSocket paths (point 6) -----------------------------------


async def test_charge_point_id_with_cr_lf_is_refused_and_logged_escaped(
    hostile_server, db_access, tmp_path_factory
):
    forged = "FORGED-LINE 2026-01-01 00:00:00 INFO admin logged in"
    with pytest.raises(InvalidStatus) as refusal:
        async with connect(
            f"{hostile_server}/ocpp/CP%0D%0A{forged.replace(' ', '%20')}",
            subprotocols=["ocpp1.6"],
            additional_headers=basic_auth("CP", "x" * 16),
            open_timeout=10,
        ):
            pass
    assert refusal.value.response.status_code == 403

    def refusal_logged() -> bool:
        return "FORGED-LINE" in server_log(tmp_path_factory, hostile_server)

    assert await eventually(refusal_logged)
    lines = server_log(tmp_path_factory, hostile_server).splitlines()
    assert not [line for line in lines if line.startswith("FORGED-LINE")]
    assert any("CP\\r\\nFORGED-LINE" in line for line in lines)


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/ocpp/..%2F..%2Fadmin", id="dot-dot-escaped-slashes"),
        pytest.param("/ocpp/", id="no-charge-point-id"),
        pytest.param("/ocpp/a/b/c", id="too-many-segments"),
        pytest.param("/admin/", id="http-page"),
        pytest.param("/%00", id="nul"),
    ],
)
async def test_unroutable_websocket_path_is_refused_without_a_traceback(
    hostile_server, tmp_path_factory, path
):
    logged_before = len(server_log(tmp_path_factory, hostile_server))
    with pytest.raises(InvalidStatus) as refusal:
        async with connect(f"{hostile_server}{path}", subprotocols=["ocpp1.6"], open_timeout=10):
            pass
    assert 400 <= refusal.value.response.status_code < 500
    assert "Traceback" not in server_log(tmp_path_factory, hostile_server)[logged_before:]


@pytest.mark.parametrize(
    "message",
    [
        pytest.param("not json", id="not-json"),
        pytest.param("[" * 6000 + "]" * 6000, id="deep-nesting"),
        pytest.param('["watch", "stations"]', id="array"),
        pytest.param('{"watch": "site", "id": 1' + "0" * 200 + "}", id="huge-id"),
        pytest.param('{"watch": {"deep": [1, 2]}, "id": null}', id="watch-not-a-string"),
        pytest.param('{"watch": "session", "id": true}', id="boolean-id"),
    ],
)
async def test_garbage_on_the_live_socket_is_ignored_and_it_keeps_serving(
    hostile_server, db_access, tmp_path_factory, message
):
    logged_before = len(server_log(tmp_path_factory, hostile_server))
    async with connect(
        f"{hostile_server}/ws/live/", origin="http://localhost", open_timeout=10
    ) as page:
        await page.send(message)
        await page.send(json.dumps({"watch": "stations"}))
        answers = [json.loads(await asyncio.wait_for(page.recv(), 5))]
        if answers[0]["kind"] == "refused":
            answers.append(json.loads(await asyncio.wait_for(page.recv(), 5)))
        assert answers[-1] == {"kind": "watching", "watch": "stations", "id": None}
    assert "Traceback" not in server_log(tmp_path_factory, hostile_server)[logged_before:]

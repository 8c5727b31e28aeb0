"""Fuzzing the OCPP endpoint: generated frames over one real WebSocket to a real server.

Wrong types, control characters, NUL and lone surrogates, huge numbers, deep nesting,
unknown actions, wrong message types, garbage text and bytes, and valid actions with
mangled payloads. Every frame gets the answer OCPP-J 1.6 §4.2 and our rules demand
(`expected_reply`), never an InternalError; the socket stays usable and the server logs
no traceback. Hypothesis runs a fixed number of examples, derandomized, so CI is stable.
"""

import json
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.sync.client import connect

from stations.models import ChargePoint
from tests.conftest import basic_auth, register
from tests.stations.ocpp_wire import assert_answer
from tests.stations.test_ocpp_hostile_input import server_log

CHARGE_POINT_ID = "CP-FUZZ"
EXAMPLES = 200
FRAME_LIMIT = 16 * 1024  # OCPP_MAX_FRAME_BYTES of the test servers: over it the socket closes
WHEN = "2026-01-01T10:00:00Z"
ERROR_CODES_1_6 = {
    "NotImplemented",
    "NotSupported",
    "ProtocolError",
    "SecurityError",
    "FormationViolation",
    "PropertyConstraintViolation",
    "OccurenceConstraintViolation",
    "TypeConstraintViolation",
    "GenericError",
}

# A valid request of every action the server takes; the fuzzer mangles them.
VALID = {
    "Heartbeat": {},
    "BootNotification": {"chargePointVendor": "V", "chargePointModel": "M"},
    "Authorize": {"idTag": "FUZZ-TAG"},
    "StatusNotification": {"connectorId": 1, "errorCode": "NoError", "status": "Available"},
    "StartTransaction": {"connectorId": 1, "idTag": "FUZZ-TAG", "meterStart": 0, "timestamp": WHEN},
    "StopTransaction": {"transactionId": 1, "meterStop": 10, "timestamp": WHEN},
    "MeterValues": {
        "connectorId": 1,
        "meterValue": [{"timestamp": WHEN, "sampledValue": [{"value": "1"}]}],
    },
    "DataTransfer": {"vendorId": "V"},
    "DiagnosticsStatusNotification": {"status": "Idle"},
    "FirmwareStatusNotification": {"status": "Idle"},
}

# Numbers Python cannot hold as a float: written into the JSON text in place of these
# marker strings after json.dumps.
RAW_NUMBERS = ["1e999999999", "-1e999999999", "1e-999999999", "1E400", "12345678901234567890.5"]
_MARKERS = {f"\ue000{index}": raw for index, raw in enumerate(RAW_NUMBERS)}

hostile_text = st.one_of(
    st.text(max_size=24),
    st.sampled_from(
        ["", "\x00", "a\x00b", "\ud800", "x\udfff", "\r\nFORGED", "\u2028", "\x1b[2J", "é" * 30]
    ),
    st.sampled_from(list(_MARKERS)),
)
hostile_number = st.one_of(
    st.integers(-(2**80), 2**80),
    st.sampled_from([2**31 - 1, 2**31, -(2**31), -(2**31) - 1, 2**63, 2**70]),
    st.floats(allow_nan=True, allow_infinity=True),
)
json_values = st.recursive(
    st.none() | st.booleans() | hostile_number | hostile_text,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(hostile_text, children, max_size=4)
    ),
    max_leaves=8,
)
message_ids = st.one_of(
    st.text(min_size=1, max_size=36),
    st.sampled_from(["", "x" * 37, "nul\x00", "\ud800", "-1", "\r\n"]),
    st.integers(),
    st.none(),
)


@st.composite
def mangled_calls(draw: st.DrawFn) -> list[Any]:
    """A valid action with its payload mangled: fields replaced, removed or added."""
    action = draw(st.sampled_from(sorted(VALID)))
    payload = dict(VALID[action])
    keys = [*sorted(payload), "extra"]
    for key in draw(st.lists(st.sampled_from(keys), max_size=3)):
        if draw(st.booleans()):
            payload[key] = draw(json_values)
        else:
            payload.pop(key, None)
    return [2, draw(message_ids), action, payload]


@dataclass(frozen=True)
class Raw:
    """A frame sent as it is, not as JSON."""

    data: str | bytes


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


frames = st.one_of(
    mangled_calls(),
    # Unknown actions, wrong message types, answers to nothing, anything at all.
    st.builds(lambda i, a, p: [2, i, a, p], message_ids, hostile_text, json_values),
    st.builds(
        lambda t, i, rest: [t, i, *rest],
        json_values.filter(lambda t: t not in (2, 3, 4)),
        message_ids,
        st.lists(json_values, max_size=3),
    ),
    st.builds(
        lambda t, i, rest: [t, i, *rest],
        st.sampled_from([3, 4]),
        message_ids,
        st.lists(json_values, max_size=4),
    ),
    st.lists(json_values, max_size=5),
    json_values,
    # Garbage text and bytes; nesting that parses but no OCPP message has, or that is
    # far too deep for any parser (between the two, where the parsers' stacks end, the
    # answer would depend on the stack depth of the test process).
    st.text(max_size=60).map(Raw),
    st.binary(max_size=60).map(Raw),
    st.integers(33, 200).map(lambda depth: Raw(_deep(depth))),
    st.integers(3000, 6000).map(lambda depth: Raw(_deep(depth))),
    st.integers(33, 200).map(
        lambda depth: Raw(f'[2, "deep", "Heartbeat", {{"x": {_deep(depth)}}}]')
    ),
)


def on_the_wire(frame: Any) -> str | bytes:
    if isinstance(frame, Raw):
        return frame.data
    text = json.dumps(frame)
    for marker, raw in _MARKERS.items():
        text = text.replace(json.dumps(marker), raw)
    return text


def _storable_id(value: Any) -> bool:
    return (
        isinstance(value, str)
        and 0 < len(value) <= 36
        and "\x00" not in value
        and not any("\ud800" <= char <= "\udfff" for char in value)
    )


def expected_reply(text: str) -> str | None:
    """The message id the server must answer `text` with; None: it must stay silent.

    Our rules (docs/ocpp-conformance.md): a frame whose message id cannot be read is
    answered with id "-1"; an answer-shaped frame (type 3 or 4), however broken, is
    never answered (a CALLERROR only ever answers a CALL, OCPP-J §4.2.2).
    """
    try:
        frame = json.loads(text)
    except (ValueError, RecursionError):
        return "-1"
    if not isinstance(frame, list) or not frame:
        return "-1"
    if frame[0] in (3, 4):
        return None
    unique_id = frame[1] if len(frame) > 1 else None
    return unique_id if _storable_id(unique_id) else "-1"


def check_reply(sent: str, reply: list[Any], unique_id: str) -> None:
    if reply[0] == 3:
        # Only a CALL with a valid request may be answered with a CALLRESULT.
        action = json.loads(sent)[2]
        assert action in VALID, (sent, reply)
        assert_answer(action, reply, unique_id)
        return
    assert reply[0] == 4 and len(reply) == 5, (sent, reply)
    assert reply[1] == unique_id, (sent, reply)
    assert reply[2] in ERROR_CODES_1_6, (sent, reply)  # never InternalError
    assert isinstance(reply[3], str) and isinstance(reply[4], dict), (sent, reply)


def test_every_generated_frame_gets_its_answer_and_the_socket_stays_usable(
    start_server, db_access, tmp_path_factory
):
    server = start_server()
    register(CHARGE_POINT_ID)
    with connect(
        f"{server}/ocpp/{CHARGE_POINT_ID}",
        subprotocols=["ocpp1.6"],
        additional_headers=basic_auth(CHARGE_POINT_ID, "correct-horse-battery-staple"),
        open_timeout=10,
    ) as socket:
        heartbeats = iter(range(10**6))

        def heartbeat_answered() -> None:
            unique_id = f"hb-{next(heartbeats)}"
            socket.send(json.dumps([2, unique_id, "Heartbeat", {}]))
            assert_answer("Heartbeat", json.loads(socket.recv(timeout=5)), unique_id)

        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(frames)
        def frame_is_answered_by_the_rules(frame: Any) -> None:
            data = on_the_wire(frame)
            if isinstance(data, str) and not _encodable(data):
                return  # a text frame is UTF-8: a lone surrogate can only come escaped
            if len(data if isinstance(data, bytes) else data.encode()) > FRAME_LIMIT:
                return  # closed with 1009: tested in test_ocpp_errors.py
            socket.send(data)
            # The server reads a binary frame as UTF-8 text, as here.
            text = data.decode(errors="replace") if isinstance(data, bytes) else data
            unique_id = expected_reply(text)
            if unique_id is None:
                heartbeat_answered()  # the answer-shaped frame itself got nothing
                return
            check_reply(text, json.loads(socket.recv(timeout=5)), unique_id)

        frame_is_answered_by_the_rules()
        heartbeat_answered()
        charge_point = ChargePoint.objects.get(charge_point_id=CHARGE_POINT_ID)
        assert charge_point.is_connected

    log = server_log(tmp_path_factory, server)
    assert "Traceback" not in log


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True

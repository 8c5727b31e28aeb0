"""OCPP-J framing and schema validation (stations/ocpp/rpc.py), as plain functions."""

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from stations.ocpp import rpc


@pytest.mark.parametrize(
    ("text", "unique_id"),
    [
        ("not json", None),
        ("{}", None),
        ("[]", None),
        ("[2]", None),
        ('[2, 5, "Heartbeat", {}]', None),
        ('[2, "", "Heartbeat", {}]', None),
        (json.dumps([2, "x" * 37, "Heartbeat", {}]), None),
        ('[2, "a", "Heartbeat"]', "a"),
        ('[2, "a", "Heartbeat", []]', "a"),
        ('[2, "a", 1, {}]', "a"),
        ('[3, "a"]', "a"),
        ('[4, "a", "GenericError", "x"]', "a"),
        ('[7, "a", {}]', "a"),
    ],
)
def test_parse_frame_refuses_broken_frames_with_formation_violation(text, unique_id):
    with pytest.raises(rpc.FrameError) as error:
        rpc.parse_frame(text)
    assert error.value.unique_id == unique_id
    assert rpc.ERROR_CODES["1.6"][error.value.code] == "FormationViolation"


@pytest.mark.parametrize(("brackets", "refused"), [(31, False), (32, True)])
def test_parse_frame_refuses_a_value_nested_deeper_than_32_levels(brackets, refused):
    # `brackets` in all, the frame's and the payload's included: the 1 is one level deeper.
    inner = "[" * (brackets - 2) + "1" + "]" * (brackets - 2)
    text = f'[2, "a", "X", {{"x": {inner}}}]'
    if refused:
        with pytest.raises(rpc.FrameError, match="nested deeper than 32"):
            rpc.parse_frame(text)
    else:
        assert rpc.parse_frame(text).unique_id == "a"


@pytest.mark.parametrize(
    ("text", "refused"),
    [
        (r'[2, "a", "X", {"x": "\u0000"}]', True),
        (r'[2, "a", "X", {"\ud800": 1}]', True),
        ('[2, "a", "X", {"x": "\udfff"}]', True),  # in the text itself, not escaped
        (r'[2, "a", "X", {"x": "\ud83d\ude00"}]', False),  # a pair: one character
        (r'[2, "a", "X", {"x": "\\u0000"}]', False),  # a backslash, then "u0000"
        (r'[2, "a", "X", {"x": "\u00e9"}]', False),
    ],
)
def test_parse_frame_refuses_escaped_nul_and_lone_surrogates(text, refused):
    if refused:
        with pytest.raises(rpc.FrameError, match="NUL or a lone surrogate"):
            rpc.parse_frame(text)
    else:
        assert rpc.parse_frame(text).unique_id == "a"


def test_parse_frame_takes_the_three_message_types_apart():
    assert rpc.parse_frame('[2, "a", "Heartbeat", {}]') == rpc.Call("a", "Heartbeat", {})
    assert rpc.parse_frame('[3, "a", {"x": 1}]') == rpc.CallResult("a", {"x": 1})
    assert rpc.parse_frame('[4, "a", "NotSupported", "no", {}]') == rpc.CallError(
        "a", "NotSupported", "no", {}
    )


def test_parse_frame_reads_decimals_exactly():
    call = rpc.parse_frame('[2, "a", "X", {"limit": 16.1}]')
    assert call.payload == {"limit": Decimal("16.1")}


def test_call_error_of_unreadable_frame_uses_message_id_minus_one():
    error = rpc.OcppError("FormationViolation", "Frame is not valid JSON")
    frame = json.loads(rpc.encode_call_error(rpc.UNKNOWN_MESSAGE_ID, error, "1.6"))
    assert frame == [4, "-1", "FormationViolation", "Frame is not valid JSON", {}]


def test_error_codes_are_spelt_as_each_version_spells_them():
    error = rpc.OcppError("OccurenceConstraintViolation", "x")
    assert json.loads(rpc.encode_call_error("a", error, "1.6"))[2] == (
        "OccurenceConstraintViolation"
    )
    assert json.loads(rpc.encode_call_error("a", error, "2.0.1"))[2] == (
        "OccurrenceConstraintViolation"
    )


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"connectorId": 1, "errorCode": "NoError", "status": "Available"}, None),
        ({"connectorId": 1, "errorCode": "NoError"}, "ProtocolError"),
        (
            {"connectorId": "1", "errorCode": "NoError", "status": "Available"},
            "TypeConstraintViolation",
        ),
        (
            {"connectorId": 1, "errorCode": "Oops", "status": "Available"},
            "PropertyConstraintViolation",
        ),
        (
            {"connectorId": 1, "errorCode": "NoError", "status": "Available", "info": "x" * 51},
            "PropertyConstraintViolation",
        ),
        (
            {"connectorId": 1, "errorCode": "NoError", "status": "Available", "extra": 1},
            "FormationViolation",
        ),
    ],
)
def test_validate_maps_schema_errors_to_ocpp_j_1_6_codes(payload, code):
    if code is None:
        rpc.validate("1.6", "StatusNotification", "request", payload, inbound=True)
        return
    with pytest.raises(rpc.OcppError) as error:
        rpc.validate("1.6", "StatusNotification", "request", payload, inbound=True)
    assert error.value.code == code


def test_validate_reports_empty_required_array_as_occurence_constraint_violation():
    with pytest.raises(rpc.OcppError) as error:
        rpc.validate(
            "1.6", "MeterValues", "request", {"connectorId": 1, "meterValue": []}, inbound=True
        )
    assert error.value.code == "OccurenceConstraintViolation"


def test_outbound_validation_refuses_a_timestamp_without_offset():
    with pytest.raises(rpc.OcppError) as error:
        rpc.validate(
            "1.6", "Heartbeat", "response", {"currentTime": "2026-01-01T10:00:00"}, inbound=False
        )
    assert error.value.code == "PropertyConstraintViolation"
    rpc.validate(
        "1.6", "Heartbeat", "response", {"currentTime": "2026-01-01T10:00:00Z"}, inbound=False
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-01T10:00:00Z", datetime(2026, 1, 1, 10, tzinfo=UTC)),
        ("2026-01-01T10:00:00.123Z", datetime(2026, 1, 1, 10, 0, 0, 123000, tzinfo=UTC)),
        ("2026-01-01t10:00:00z", datetime(2026, 1, 1, 10, tzinfo=UTC)),
        ("2026-01-01T12:00:00+02:00", datetime(2026, 1, 1, 10, tzinfo=UTC)),
        # No offset: taken as UTC (documented choice, docs/ocpp-conformance.md).
        ("2026-01-01T10:00:00", datetime(2026, 1, 1, 10, tzinfo=UTC)),
    ],
)
def test_parse_datetime_reads_rfc_3339_date_times(text, expected):
    assert rpc.parse_datetime(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2026-01-01",
        "2026-01-01 10:00:00Z",
        "20260101T100000Z",
        "2026-01-01T10:00Z",
        "2026-01-01T10:00:00+0200",
        "2026-01-01T10:00:00Z\n",
        "2026-02-30T10:00:00Z",
        "yesterday",
    ],
)
def test_parse_datetime_refuses_what_is_not_an_rfc_3339_date_time(text):
    with pytest.raises(ValueError):
        rpc.parse_datetime(text)


def test_format_datetime_is_utc_with_z_and_milliseconds():
    moment = datetime(2026, 6, 1, 12, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    assert rpc.format_datetime(moment) == "2026-06-01T10:00:00.123Z"


def test_format_datetime_refuses_a_naive_datetime():
    with pytest.raises(ValueError):
        rpc.format_datetime(datetime(2026, 1, 1))

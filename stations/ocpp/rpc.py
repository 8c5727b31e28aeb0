"""OCPP-J RPC framing: frames, message ids, schema validation and CALLERROR codes.

The `ocpp` package supplies the JSON schemas; the framing and the error codes are done
here because the package answers unknown actions with the wrong code, sends nothing for
frames it cannot parse, and never checks date-time formats.

OCPP-J 1.6 §4.1.3 (frames):   CALL       [2, "<UniqueId>", "<Action>", {<Payload>}]
                               CALLRESULT [3, "<UniqueId>", {<Payload>}]
                               CALLERROR  [4, "<UniqueId>", "<errorCode>", "<errorDescription>",
                                           {<errorDetails>}]
OCPP-J 1.6 §4.2.3 (error codes), spelt as 1.6 spells them (FormationViolation,
OccurenceConstraintViolation); 2.0.1 renamed some, see ERROR_CODES.

Hostile input is refused here, at the edge, so the handlers only see values they can
store: a frame nested deeper than any OCPP message, or holding text no database column
takes (a NUL, a lone UTF-16 surrogate), is a FormationViolation (parse_frame); a number
no OCPP type holds (an integer beyond 32 bits, NaN, Infinity, a decimal of 10^15 or
more) is a TypeConstraintViolation (validate).
"""

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any, Literal

import jsonschema_rs
import ocpp
from jsonschema import Draft4Validator, FormatChecker
from jsonschema.exceptions import ValidationError

from chargehub.request_text import is_unstorable

CALL, CALLRESULT, CALLERROR = 2, 3, 4
# A CALLERROR for a frame whose message id could not be read carries this id
# (OCPP-J 2.0.1 §4.2.3; 1.6 is silent, and a silent drop would leave the charger
# waiting for its timeout).
UNKNOWN_MESSAGE_ID = "-1"
MAX_MESSAGE_ID_LENGTH = 36  # OCPP-J §4.1.4: a unique id is at most 36 characters
# The deepest OCPP 1.6 or 2.0.1 message nests about 8 levels (frame, payload, profile,
# schedule, period); a deeper frame is an attack on the parser, not a message.
MAX_NESTING = 32
# OCPP's integer is 32-bit signed (spelt out by OCPP 2.0.1 Part 2 §2.1.4; 1.6 leaves it
# open). It fits every integer column, and the difference of two fits a bigint.
INTEGER_RANGE = range(-(2**31), 2**31)
# No OCPP decimal (amperes, watts, kWh, SoC) comes near this; past it Decimal arithmetic
# (a schema's multipleOf) runs out of precision.
MAX_DECIMAL = Decimal(10) ** 15

Version = Literal["1.6", "2.0.1"]
SUBPROTOCOLS: dict[str, Version] = {"ocpp1.6": "1.6", "ocpp2.0.1": "2.0.1"}

# What each error means, by version. Keys are what this module raises; values are the
# code the version puts on the wire.
ERROR_CODES: dict[Version, dict[str, str]] = {
    "1.6": {
        "NotImplemented": "NotImplemented",
        "NotSupported": "NotSupported",
        "InternalError": "InternalError",
        "ProtocolError": "ProtocolError",
        "SecurityError": "SecurityError",
        "FormationViolation": "FormationViolation",
        "PropertyConstraintViolation": "PropertyConstraintViolation",
        "OccurenceConstraintViolation": "OccurenceConstraintViolation",
        "TypeConstraintViolation": "TypeConstraintViolation",
        "GenericError": "GenericError",
        "MessageTypeNotSupported": "FormationViolation",
    },
    "2.0.1": {
        "NotImplemented": "NotImplemented",
        "NotSupported": "NotSupported",
        "InternalError": "InternalError",
        "ProtocolError": "ProtocolError",
        "SecurityError": "SecurityError",
        "FormationViolation": "FormatViolation",
        "PropertyConstraintViolation": "PropertyConstraintViolation",
        "OccurenceConstraintViolation": "OccurrenceConstraintViolation",
        "TypeConstraintViolation": "TypeConstraintViolation",
        "GenericError": "GenericError",
        "MessageTypeNotSupported": "MessageTypeNotSupported",
    },
}


class OcppError(Exception):
    """An error that becomes a CALLERROR. `code` is a key of ERROR_CODES[version]."""

    def __init__(self, code: str, description: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description
        self.details = details or {}


class FrameError(OcppError):
    """A frame that could not be taken apart; `unique_id` is set when it could be read."""

    def __init__(
        self, code: str, description: str, unique_id: str | None, message_type: Any
    ) -> None:
        super().__init__(code, description)
        self.unique_id = unique_id
        self.message_type = message_type


@dataclass
class Call:
    unique_id: str
    action: str
    payload: dict[str, Any]


@dataclass
class CallResult:
    unique_id: str
    payload: dict[str, Any]


@dataclass
class CallError:
    unique_id: str
    error_code: str
    description: str
    details: dict[str, Any] = field(default_factory=dict)


Frame = Call | CallResult | CallError


def new_message_id() -> str:
    return str(uuid.uuid4())


def _formation_problem(frame: list[Any], text: str) -> str | None:
    """Why a parsed frame is not one a charger should send, or None; iterative, so that
    nesting cannot exhaust the stack."""
    if (
        text.count("[") + text.count("{") < MAX_NESTING
        and "\\u" not in text
        and not is_unstorable(text)
    ):
        # Its text shows it: too few brackets to nest that deep (a value sits one level
        # below its innermost bracket), and no NUL or surrogate, raw or escaped.
        return None
    stack: list[tuple[Any, int]] = [(frame, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_NESTING:
            return f"Frame is nested deeper than {MAX_NESTING} levels"
        if isinstance(value, str) and is_unstorable(value):
            return "Frame contains a NUL or a lone surrogate"
        if isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
        elif isinstance(value, dict):
            for key, item in value.items():
                if is_unstorable(key):
                    return "Frame contains a NUL or a lone surrogate"
                stack.append((item, depth + 1))
    return None


# One each, made once: json.loads and json.dumps with arguments make a new one every call.
_DECODER = json.JSONDecoder(parse_float=Decimal, parse_constant=Decimal)


def parse_frame(text: str) -> Frame:
    """Take a frame apart, or raise FrameError saying which CALLERROR it deserves.

    Numbers are parsed as Decimal: OCPP 1.6 limits some decimals to one place
    (multipleOf 0.1), which binary floats cannot be checked against.
    """
    try:
        # NaN and Infinity are no JSON (RFC 8259 §6) but Python reads them: as Decimal,
        # like every other number, so that validate() refuses them with the rest.
        frame = _DECODER.decode(text)
    except (ValueError, RecursionError):
        # RecursionError: nesting deeper than the parser's stack (a frame of "[[[[...").
        raise FrameError("FormationViolation", "Frame is not valid JSON", None, None) from None
    if not isinstance(frame, list) or not frame:
        raise FrameError("FormationViolation", "Frame is not a JSON array", None, None)

    message_type = frame[0]
    unique_id = frame[1] if len(frame) > 1 else None
    if (
        not isinstance(unique_id, str)
        or not 0 < len(unique_id) <= MAX_MESSAGE_ID_LENGTH
        or is_unstorable(unique_id)
    ):
        raise FrameError(
            "FormationViolation",
            "Message id must be a string of 1 to 36 characters",
            None,
            message_type,
        )
    problem = _formation_problem(frame, text)
    if problem is not None:
        raise FrameError("FormationViolation", problem, unique_id, message_type)

    if message_type == CALL:
        if len(frame) != 4 or not isinstance(frame[2], str):
            raise FrameError(
                "FormationViolation",
                "A CALL has 4 elements: [2, id, action, payload]",
                unique_id,
                message_type,
            )
        if not isinstance(frame[3], dict):
            raise FrameError(
                "FormationViolation",
                "The payload of a CALL must be a JSON object",
                unique_id,
                message_type,
            )
        return Call(unique_id, frame[2], frame[3])
    if message_type == CALLRESULT:
        if len(frame) != 3 or not isinstance(frame[2], dict):
            raise FrameError(
                "FormationViolation",
                "A CALLRESULT has 3 elements: [3, id, payload]",
                unique_id,
                message_type,
            )
        return CallResult(unique_id, frame[2])
    if message_type == CALLERROR:
        if (
            len(frame) != 5
            or not isinstance(frame[2], str)
            or not isinstance(frame[3], str)
            or not isinstance(frame[4], dict)
        ):
            raise FrameError(
                "FormationViolation",
                "A CALLERROR has 5 elements: [4, id, code, description, details]",
                unique_id,
                message_type,
            )
        return CallError(unique_id, frame[2], frame[3], frame[4])
    raise FrameError(
        "MessageTypeNotSupported",
        f"Unknown message type {message_type!r}"[:100],
        unique_id,
        message_type,
    )


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        if not _is_ocpp_decimal(value):
            # Only in a payload already refused (an invalid answer kept for its vendor):
            # its text, since JSON has no NaN and int() of 1E+999999999 would never end.
            return str(value)
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=_json_default)


def _dumps(frame: list[Any]) -> str:
    return _ENCODER.encode(frame)


def encode_call(unique_id: str, action: str, payload: dict[str, Any]) -> str:
    return _dumps([CALL, unique_id, action, payload])


def encode_call_result(unique_id: str, payload: dict[str, Any]) -> str:
    return _dumps([CALLRESULT, unique_id, payload])


def encode_call_error(unique_id: str, error: OcppError, version: Version) -> str:
    code = ERROR_CODES[version].get(error.code, "GenericError")
    return _dumps([CALLERROR, unique_id, code, error.description, error.details])


# --- Schema validation ------------------------------------------------------------------


# RFC 3339 date-time, the JSON-schema "date-time" format the OCPP schemas name. Python's
# fromisoformat alone also takes a bare date, a space separator or ISO basic format
# ("20260101T1000"), which would quietly turn a broken timestamp into midnight.
_DATETIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})?\Z", re.ASCII
)


def parse_datetime(value: str) -> datetime:
    """An OCPP date-time (RFC 3339). One without a UTC offset is taken as UTC."""
    if not _DATETIME.match(value):
        raise ValueError(f"{value!r} is not an RFC 3339 date-time")
    parsed = datetime.fromisoformat(value.upper())
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def format_datetime(value: datetime) -> str:
    """Every timestamp the server sends: UTC, millisecond precision, with its 'Z' offset."""
    if value.tzinfo is None:
        raise ValueError("Refusing to send a naive datetime")
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# Chargers may omit the offset (taken as UTC, see parse_datetime); the server never does.
inbound_formats = FormatChecker(formats=())
outbound_formats = FormatChecker(formats=())


def _is_inbound_datetime(value: str) -> bool:
    try:
        parse_datetime(value)
    except ValueError:
        return False
    return True


def _is_outbound_datetime(value: str) -> bool:
    try:
        return datetime.fromisoformat(value).utcoffset() is not None
    except ValueError:
        return False


# The inbound rule is _fast_validator's too (below): both paths take the same date-times.
@inbound_formats.checks("date-time")
def _inbound_datetime_format(value: object) -> bool:
    return not isinstance(value, str) or _is_inbound_datetime(value)


@outbound_formats.checks("date-time")
def _outbound_datetime_format(value: object) -> bool:
    return not isinstance(value, str) or _is_outbound_datetime(value)


_SCHEMA_DIRS: dict[Version, Path] = {
    "1.6": Path(ocpp.__file__).parent / "v16" / "schemas",
    "2.0.1": Path(ocpp.__file__).parent / "v201" / "schemas",
}


def schema_name(version: Version, action: str, kind: Literal["request", "response"]) -> str:
    if version == "1.6":
        return action + ("Response" if kind == "response" else "")
    return action + ("Response" if kind == "response" else "Request")


def has_schema(version: Version, action: str) -> bool:
    return (_SCHEMA_DIRS[version] / f"{schema_name(version, action, 'request')}.json").exists()


@cache
def _schema(version: Version, action: str, kind: Literal["request", "response"]) -> dict[str, Any]:
    path = _SCHEMA_DIRS[version] / f"{schema_name(version, action, kind)}.json"
    return json.loads(path.read_text(encoding="utf-8-sig"), parse_float=Decimal)


@cache
def _validator(
    version: Version, action: str, kind: Literal["request", "response"], inbound: bool
) -> Draft4Validator:
    return Draft4Validator(
        _schema(version, action, kind),
        format_checker=inbound_formats if inbound else outbound_formats,
    )


# The keywords (and formats) the OCPP schemas use whose meaning jsonschema-rs and
# jsonschema share for what _reads_alike lets through; tests/stations/test_rpc_fast_path.py
# shows both agree. A schema with any other keyword (multipleOf: Decimal arithmetic) or
# format (that jsonschema-rs would check and ours does not) has no fast validator.
_FAST_KEYWORDS = frozenset(
    {
        *("$schema", "$id", "id", "title", "description", "comment", "javaType", "default"),
        *("$ref", "definitions", "type", "enum", "format", "maxLength", "minLength"),
        *("properties", "required", "additionalProperties"),
        *("items", "additionalItems", "minItems", "maxItems", "minimum", "maximum"),
    }
)
_FAST_FORMATS = frozenset({"date-time", "uri"})


def _is_fast_checkable(schema: dict[str, Any]) -> bool:
    stack = [schema]
    while stack:
        node = stack.pop()
        for keyword, value in node.items():
            if keyword not in _FAST_KEYWORDS:
                return False
            if keyword == "format" and value not in _FAST_FORMATS:
                return False
            if keyword == "enum" and not all(type(item) is str for item in value):
                return False
            if keyword in ("properties", "definitions"):
                stack.extend(value.values())
            elif isinstance(value, dict) and keyword != "default":
                stack.append(value)  # items, additionalProperties, additionalItems
            elif keyword == "items":
                stack.extend(value)
    return True


@cache
def _fast_validator(
    version: Version, action: str, kind: Literal["request", "response"]
) -> jsonschema_rs.Validator | None:
    """jsonschema-rs with the inbound date-time rule: the same yes or no as _validator for
    what _reads_alike lets through, at a fraction of its CPU; None for a schema it cannot
    stand in for."""
    schema = _schema(version, action, kind)
    if not _is_fast_checkable(schema):
        return None
    return jsonschema_rs.Draft4Validator(
        schema,
        # Ours checks no "uri" (FormatChecker(formats=())); jsonschema-rs would.
        formats={"date-time": _is_inbound_datetime, "uri": lambda value: True},
        validate_formats=True,
    )


# JSON-schema keyword -> OCPP-J 1.6 §4.2.3 error code. A missing required field makes
# the payload "incomplete" (ProtocolError); a wrong cardinality breaks an occurrence
# constraint; a wrong JSON type a type constraint; a value outside its enum, length,
# range or format a property constraint; an unexpected field breaks the PDU structure.
_SCHEMA_ERRORS = {
    "required": "ProtocolError",
    "minItems": "OccurenceConstraintViolation",
    "maxItems": "OccurenceConstraintViolation",
    "uniqueItems": "OccurenceConstraintViolation",
    "type": "TypeConstraintViolation",
    "additionalProperties": "FormationViolation",
}


def _is_ocpp_decimal(value: Decimal) -> bool:
    return value.is_finite() and value.copy_abs() < MAX_DECIMAL


def _number_problem(payload: dict[str, Any]) -> tuple[str, str] | None:
    """(location, why) of the first number no OCPP type holds, or None.

    Checked before the schema: its keywords do arithmetic (multipleOf) that such numbers
    break, and the handlers store integers in 32- and 64-bit columns.
    """
    stack: list[tuple[Any, str]] = [(payload, "")]
    while stack:
        value, location = stack.pop()
        if isinstance(value, bool):
            continue
        if isinstance(value, int) and value not in INTEGER_RANGE:
            return location, "integer out of the 32-bit range of an OCPP integer"
        if isinstance(value, Decimal | float) and not _is_ocpp_decimal(Decimal(value)):
            return location, "number is not finite or is too large"
        if isinstance(value, dict):
            stack.extend((item, f"{location}/{key}".lstrip("/")) for key, item in value.items())
        elif isinstance(value, list):
            stack.extend(
                (item, f"{location}/{index}".lstrip("/")) for index, item in enumerate(value)
            )
    return None


def _reads_alike(payload: dict[str, Any]) -> bool:
    """Whether jsonschema-rs reads every value of `payload` as jsonschema does: text,
    booleans, null, OCPP integers, and OCPP decimals that are no whole number (it takes
    Decimal("7"), from "7e0", for an integer; jsonschema does not). Anything else goes
    the slow way."""
    stack: list[Any] = [payload]
    while stack:
        value = stack.pop()
        kind = type(value)
        if kind is str or kind is bool or value is None:
            continue
        if kind is dict:
            stack.extend(value.values())
        elif kind is list:
            stack.extend(value)
        elif kind is int:
            if value not in INTEGER_RANGE:
                return False
        elif kind is not Decimal or not _is_ocpp_decimal(value):
            return False
        elif value == value.to_integral_value():
            return False
    return True


def validate(
    version: Version,
    action: str,
    kind: Literal["request", "response"],
    payload: dict[str, Any],
    inbound: bool,
) -> None:
    """Check a payload against its OCPP JSON schema; raise OcppError with the right code.

    An inbound payload (parse_frame's: its text is storable) is first asked of the fast
    validator; only one it refuses, or cannot judge, goes the slow way, which finds the
    error to report. Most payloads are valid, so most never take the slow way.
    """
    if inbound and _reads_alike(payload):
        fast = _fast_validator(version, action, kind)
        if fast is not None and fast.is_valid(payload):
            return
    _validate_slowly(version, action, kind, payload, inbound)


def _validate_slowly(
    version: Version,
    action: str,
    kind: Literal["request", "response"],
    payload: dict[str, Any],
    inbound: bool,
) -> None:
    """validate() with jsonschema alone: what makes each CALLERROR's code and text."""
    number = _number_problem(payload)
    if number is not None:
        location = number[0] or "(payload)"
        raise OcppError(
            "TypeConstraintViolation", f"{location}: {number[1]}"[:200], {"field": location}
        )
    validator = _validator(version, action, kind, inbound)
    error: ValidationError | None = next(iter(validator.iter_errors(payload)), None)
    if error is None:
        return
    # The deepest, most specific error is the one worth reporting.
    error = min((error, *error.context), key=lambda e: -len(e.absolute_path))
    code = _SCHEMA_ERRORS.get(str(error.validator), "PropertyConstraintViolation")
    location = "/".join(str(part) for part in error.absolute_path) or "(payload)"
    raise OcppError(code, f"{location}: {error.message}"[:200], {"field": location})


def to_plain(payload: Any) -> Any:
    """A payload with its Decimals turned into JSON numbers, fit for the channel layer."""
    return json.loads(_dumps(payload))

"""rpc.validate's fast path (jsonschema-rs) says yes or no exactly as the slow one
(jsonschema), so every payload gets the answer it got before the fast path existed.

Payloads are generated from each OCPP schema: mostly valid, with the values where the two
libraries could part (date-times with and without offset, impossible dates, text at its
maxLength in characters beyond the BMP, whole-number decimals like 7e0 where an integer
is wanted, numbers at the 32-bit and schema bounds, wrong types, missing and extra fields,
empty and overfull arrays). Hypothesis runs a fixed number of examples, derandomized.
"""

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stations.ocpp import rpc


def _action_and_kind(version: str, stem: str) -> tuple[str, str]:
    """The (action, kind) whose schema is the file `stem` (rpc.schema_name backwards)."""
    if stem.endswith("Response"):
        return stem.removesuffix("Response"), "response"
    return (stem.removesuffix("Request") if version == "2.0.1" else stem), "request"


# Every schema of both versions: (version, action, kind).
SCHEMAS = sorted(
    (version, *_action_and_kind(version, path.stem))
    for version, directory in rpc._SCHEMA_DIRS.items()
    for path in directory.glob("*.json")
)

# Text as parse_frame lets it through: no NUL, no lone surrogate.
storable_text = st.text(
    st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=8
)
date_times = st.sampled_from(
    [
        "2026-01-01T10:00:00Z",
        "2026-01-01T10:00:00.123Z",
        "2026-01-01T10:00:00",
        "2026-01-01T10:00:00.5+02:00",
        "2026-01-01t10:00:00z",
        "2026-01-01 10:00:00Z",
        "2026-02-30T10:00:00Z",
        "2026-01-01T25:00:00Z",
        "2026-01-01",
        "20260101T100000Z",
        "2026-01-01T10:00:00+0200",
        "2026-01-01T10:00:00Z\n",
        "2026-01-01T10:00:00.Z",
        "",
    ]
)
decimals = st.sampled_from(
    [
        Decimal("0.5"),
        Decimal("1.0"),
        Decimal("7"),  # "7e0" on the wire: jsonschema-rs takes it for an integer
        Decimal("1E+2"),
        Decimal("-0.0"),
        Decimal("99.99"),
        Decimal("100.0000000000000000001"),
        Decimal("-0.0000000000000000001"),
        Decimal("1E+15"),
        Decimal("1000000000000000.5"),
        Decimal("NaN"),
        Decimal("-Infinity"),
    ]
)
numbers = st.one_of(
    st.integers(-5, 105), st.sampled_from([2**31 - 1, -(2**31), 2**31, -(2**31) - 1]), decimals
)
anything = st.recursive(
    st.none() | st.booleans() | numbers | storable_text,
    lambda children: st.lists(children, max_size=2) | st.dictionaries(storable_text, children),
    max_leaves=4,
)


def _resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = root["definitions"][node["$ref"].rsplit("/", 1)[1]]
    return node


def _text(node: dict[str, Any]) -> st.SearchStrategy[str]:
    if "enum" in node:
        near = [value + "x" for value in node["enum"]] + [node["enum"][0].lower()]
        return st.sampled_from(node["enum"]) | st.sampled_from(near)
    if node.get("format") == "date-time":
        return date_times
    limit = node.get("maxLength")
    if limit is None:
        return storable_text
    # At the limit and one past it, counted in characters: some beyond the BMP.
    return st.builds(
        lambda size, first, rest: (first + rest * size)[:size],
        st.sampled_from([limit, limit + 1, 0]),
        st.sampled_from("a😀"),
        st.sampled_from("aé€😀"),
    )


def _value(node: dict[str, Any], root: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Mostly what the schema node wants, sometimes anything at all."""
    node = _resolve(node, root)
    kind = node.get("type")
    if kind == "object":
        wanted: st.SearchStrategy[Any] = _object(node, root)
    elif kind == "array":
        smallest = node.get("minItems", 0)
        wanted = st.lists(
            _value(node.get("items", {}), root),
            min_size=max(0, smallest - 1),
            max_size=node.get("maxItems", smallest + 2) + 1,
        )
    elif kind == "string":
        wanted = _text(node)
    elif kind in ("integer", "number"):
        bounds = [node[key] for key in ("minimum", "maximum") if key in node]
        wanted = st.one_of(numbers, decimals, st.sampled_from([*bounds, 0]))
    elif kind == "boolean":
        wanted = st.booleans()
    else:
        wanted = anything
    return st.one_of(wanted, wanted, wanted, anything)


def _object(node: dict[str, Any], root: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    properties = node.get("properties", {})
    required = set(node.get("required", []))

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        result = {}
        for name, child in properties.items():
            # A required field is sometimes left out, an optional one often.
            if draw(st.integers(0, 9)) < (9 if name in required else 4):
                result[name] = draw(_value(child, root))
        if draw(st.integers(0, 9)) == 0:
            result["unexpected"] = draw(anything)
        return result

    return build()


@st.composite
def schema_payloads(draw: st.DrawFn) -> tuple[tuple[str, str, str], dict[str, Any]]:
    which = draw(st.sampled_from(SCHEMAS))
    schema = rpc._schema(*which)
    return which, draw(_object(schema, schema))


def _outcome(check: Any, which: tuple[str, str, str], payload: dict[str, Any]) -> Any:
    try:
        check(*which, payload, inbound=True)
    except rpc.OcppError as error:
        return error.code, error.description, error.details
    return None


@settings(
    max_examples=800,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(schema_payloads())
def test_fast_and_slow_validation_agree_on_every_schema(case):
    which, payload = case
    shown = json.dumps([*which, payload], default=str)
    expected = _outcome(rpc._validate_slowly, which, payload)
    assert _outcome(rpc.validate, which, payload) == expected, shown
    fast = rpc._fast_validator(*which)
    if fast is not None and rpc._reads_alike(payload):
        assert fast.is_valid(payload) == (expected is None), (shown, expected)


def test_only_schemas_with_multiple_of_lack_a_fast_validator():
    slow_only = {which for which in SCHEMAS if rpc._fast_validator(*which) is None}
    assert slow_only == {
        ("1.6", "GetCompositeSchedule", "response"),
        ("1.6", "RemoteStartTransaction", "request"),
        ("1.6", "SetChargingProfile", "request"),
    }


NOW = "2026-01-01T10:00:00.000Z"


@pytest.mark.parametrize(
    ("action", "payload"),
    [
        ("Heartbeat", {}),
        ("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Charging"}),
        ("StartTransaction", {"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": NOW}),
        (
            "MeterValues",
            {
                "connectorId": 1,
                "transactionId": 7,
                "meterValue": [
                    {
                        "timestamp": "2026-01-01T10:00:00",  # no offset: taken as UTC
                        "sampledValue": [{"value": "1500", "unit": "Wh"}, {"value": "7.2"}],
                    }
                ],
            },
        ),
        ("StopTransaction", {"transactionId": 7, "meterStop": 10, "timestamp": NOW}),
    ],
)
def test_the_usual_calls_take_the_fast_path(action, payload):
    assert rpc._reads_alike(payload)
    assert rpc._fast_validator("1.6", action, "request").is_valid(payload)


NUMBER_FIELDS = {
    # (version, action, kind): a payload with NUMBER where the number goes
    ("1.6", "StartTransaction", "request"): lambda number: {
        "connectorId": 1,
        "idTag": "T",
        "meterStart": number,
        "timestamp": NOW,
    },
    ("2.0.1", "MeterValues", "request"): lambda number: {
        "evseId": 1,
        "meterValue": [{"timestamp": NOW, "sampledValue": [{"value": number}]}],
    },
    ("2.0.1", "NotifyEVChargingNeeds", "request"): lambda number: {
        "evseId": 1,
        "chargingNeeds": {
            "requestedEnergyTransfer": "DC",
            "dcChargingParameters": {"evMaxCurrent": 1, "evMaxVoltage": 1, "stateOfCharge": number},
        },
    },
}
TRICKY_NUMBERS = [
    *(-1, 0, 100, 101, 2**31 - 1, 2**31, -(2**31), -(2**31) - 1),
    *(Decimal(text) for text in ("0.5", "1.0", "7", "1E+2", "-0.0", "99.5", "100.5")),
    *(Decimal(text) for text in ("100.0000000000000000001", "-0.0000000000000000001")),
    *(Decimal(text) for text in ("1E+15", "1000000000000000.5", "999999999999999.9")),
    *(Decimal(text) for text in ("NaN", "Infinity", "-Infinity")),
]


@pytest.mark.parametrize("which", sorted(NUMBER_FIELDS))
@pytest.mark.parametrize("number", TRICKY_NUMBERS, ids=str)
def test_fast_and_slow_validation_agree_on_numbers_at_every_edge(which, number):
    payload = NUMBER_FIELDS[which](number)
    expected = _outcome(rpc._validate_slowly, which, payload)
    assert _outcome(rpc.validate, which, payload) == expected
    if rpc._reads_alike(payload):
        assert rpc._fast_validator(*which).is_valid(payload) == (expected is None), expected

"""MeterValues (OCPP 1.6 §4.7, SampledValue §7.45): everything a charger measures, kept
exactly as received, and stored once however often it is sent."""

import json
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from stations import meter_samples
from stations.models import MeterSample
from tests.stations.handling import handle
from tests.stations.ocpp_wire import SCHEMAS, ago, iso

pytestmark = pytest.mark.django_db

_SAMPLED = json.loads((SCHEMAS / "MeterValues.json").read_text("utf-8-sig"))["properties"][
    "meterValue"
]["items"]["properties"]["sampledValue"]["items"]["properties"]
MEASURANDS = _SAMPLED["measurand"]["enum"]
PHASES = _SAMPLED["phase"]["enum"]
CONTEXTS = _SAMPLED["context"]["enum"]
UNITS = _SAMPLED["unit"]["enum"]
LOCATIONS = _SAMPLED["location"]["enum"]

FIELDS = ("measurand", "phase", "context", "unit", "location", "format", "value")


def _samples(charge_point_id: str) -> list[tuple]:
    return list(
        MeterSample.objects.filter(charge_point__charge_point_id=charge_point_id)
        .order_by("id")
        .values_list(*FIELDS)
    )


def _every_kind_of_sample() -> list[dict]:
    """One sampled value for each value of each SampledValue enum (OCPP 1.6 §7.45)."""
    sampled = [{"value": "1", "measurand": m, "location": "Body"} for m in MEASURANDS]
    sampled += [{"value": "230.1", "measurand": "Voltage", "unit": "V", "phase": p} for p in PHASES]
    sampled += [{"value": "2", "measurand": "Frequency", "context": c} for c in CONTEXTS]
    sampled += [
        {"value": "3", "measurand": "Temperature", "unit": "Celsius", "location": loc}
        for loc in LOCATIONS
    ]
    sampled += [{"value": "4", "measurand": "RPM", "unit": u} for u in UNITS]
    return sampled


def test_meter_values_store_every_measurand_phase_context_unit_and_location():
    sampled = _every_kind_of_sample()
    assert (
        handle(
            "CP-MV-ALL",
            "MeterValues",
            {
                "connectorId": 1,
                "meterValue": [{"timestamp": iso(ago()), "sampledValue": sampled}],
            },
        )
        == {}
    )
    stored = _samples("CP-MV-ALL")
    expected = [
        (
            s.get("measurand", "Energy.Active.Import.Register"),
            s.get("phase", ""),
            s.get("context", "Sample.Periodic"),
            s.get("unit", "Wh"),
            s.get("location", ""),
            "Raw",
            s["value"],
        )
        for s in sampled
    ]
    assert sorted(stored) == sorted(expected)
    assert {row[0] for row in stored} >= set(MEASURANDS)
    assert {row[1] for row in stored} >= set(PHASES)
    assert {row[2] for row in stored} >= set(CONTEXTS)
    assert {row[3] for row in stored} >= set(UNITS)
    assert {row[4] for row in stored} >= set(LOCATIONS)


def test_meter_values_use_the_1_6_defaults_for_absent_fields():
    handle(
        "CP-MV-DEFAULTS",
        "MeterValues",
        {
            "connectorId": 1,
            "meterValue": [{"timestamp": iso(ago()), "sampledValue": [{"value": "12.5"}]}],
        },
    )
    sample = MeterSample.objects.get(charge_point__charge_point_id="CP-MV-DEFAULTS")
    assert (
        sample.measurand,
        sample.context,
        sample.format,
        sample.unit,
        sample.phase,
        sample.location,
    ) == (
        "Energy.Active.Import.Register",
        "Sample.Periodic",
        "Raw",
        "Wh",
        "",
        "",
    )
    assert sample.value_decimal == Decimal("12.5")


def test_signed_meter_value_is_kept_exactly_as_received_beside_the_raw_one():
    signed = (
        '<?xml version="1.0"?><signedMeterValue><publicKey encoding="base64">AbC+/=</publicKey>'
        '<meterValueSignature encoding="base64">ZmFrZQ==</meterValueSignature></signedMeterValue>'
    )
    when = iso(ago())
    handle(
        "CP-MV-SIGNED",
        "MeterValues",
        {
            "connectorId": 1,
            "meterValue": [
                {
                    "timestamp": when,
                    "sampledValue": [
                        {"value": "15017.5", "context": "Transaction.End", "unit": "Wh"},
                        {
                            "value": signed,
                            "context": "Transaction.End",
                            "format": "SignedData",
                            "unit": "Wh",
                        },
                    ],
                }
            ],
        },
    )
    rows = list(
        MeterSample.objects.filter(charge_point__charge_point_id="CP-MV-SIGNED")
        .order_by("format")
        .values_list("format", "value", "value_decimal")
    )
    assert rows == [("Raw", "15017.5", Decimal("15017.5")), ("SignedData", signed, None)]


def test_meter_values_retransmitted_store_nothing_new():
    request = {
        "connectorId": 1,
        "meterValue": [
            {
                "timestamp": iso(ago(minutes=1)),
                "sampledValue": [
                    {"value": "100", "measurand": "Energy.Active.Import.Register"},
                    {"value": "7.4", "measurand": "Power.Active.Import", "unit": "kW"},
                ],
            }
        ],
    }
    handle("CP-MV-RETRY", "MeterValues", request)
    assert handle("CP-MV-RETRY", "MeterValues", request) == {}
    assert len(_samples("CP-MV-RETRY")) == 2


def test_meter_values_are_linked_to_the_session_they_name():
    transaction_id = (
        handle(
            "CP-MV-SESSION",
            "StartTransaction",
            {
                "connectorId": 2,
                "idTag": "MV",
                "meterStart": 0,
                "timestamp": iso(ago(minutes=5)),
            },
        )
    )["transactionId"]
    handle(
        "CP-MV-SESSION",
        "MeterValues",
        {
            "connectorId": 2,
            "transactionId": transaction_id,
            "meterValue": [{"timestamp": iso(ago()), "sampledValue": [{"value": "42"}]}],
        },
    )
    # A transactionId the server never gave out: the values are kept, unlinked.
    handle(
        "CP-MV-SESSION",
        "MeterValues",
        {
            "connectorId": 2,
            "transactionId": 99999999,
            "meterValue": [{"timestamp": iso(ago(seconds=30)), "sampledValue": [{"value": "43"}]}],
        },
    )
    rows = list(
        MeterSample.objects.filter(charge_point__charge_point_id="CP-MV-SESSION")
        .order_by("value")
        .values_list("value", "session_id", "connector_id")
    )
    assert rows == [("42", transaction_id, 2), ("43", None, 2)]


def test_meter_values_naming_another_chargers_transaction_are_kept_unlinked():
    start = {"connectorId": 1, "idTag": "MV", "meterStart": 0, "timestamp": iso(ago(minutes=5))}
    theirs = handle("CP-MV-THEIRS", "StartTransaction", start)["transactionId"]
    handle(
        "CP-MV-MINE",
        "MeterValues",
        {
            "connectorId": 1,
            "transactionId": theirs,
            "meterValue": [{"timestamp": iso(ago()), "sampledValue": [{"value": "44"}]}],
        },
    )
    rows = MeterSample.objects.filter(charge_point__charge_point_id="CP-MV-MINE")
    assert list(rows.values_list("value", "session_id")) == [("44", None)]


def test_meter_values_of_connector_0_are_the_main_meter():
    handle(
        "CP-MV-MAIN",
        "MeterValues",
        {
            "connectorId": 0,
            "meterValue": [{"timestamp": iso(ago()), "sampledValue": [{"value": "9"}]}],
        },
    )
    sample = MeterSample.objects.get(charge_point__charge_point_id="CP-MV-MAIN")
    assert sample.connector_id == 0


def test_raw_value_that_is_no_storable_number_is_kept_as_text():
    values = ["1e400", "123456789012345678901234567890", "NaN", "-Infinity", "12,5", "0x1F"]
    sampled = [
        {"value": v, "measurand": "Energy.Active.Import.Register", "phase": p}
        for v, p in zip(values, PHASES, strict=False)
    ]
    handle(
        "CP-MV-ODD",
        "MeterValues",
        {"connectorId": 1, "meterValue": [{"timestamp": iso(ago()), "sampledValue": sampled}]},
    )
    rows = list(
        MeterSample.objects.filter(charge_point__charge_point_id="CP-MV-ODD").values_list(
            "value", "value_decimal"
        )
    )
    assert sorted(rows) == sorted((v, None) for v in values)


def test_many_meter_values_in_one_message_are_all_stored():
    meter_value = [
        {"timestamp": iso(ago(minutes=60 - i)), "sampledValue": [{"value": str(i * 100)}]}
        for i in range(60)
    ]
    handle("CP-MV-MANY", "MeterValues", {"connectorId": 1, "meterValue": meter_value})
    assert len(_samples("CP-MV-MANY")) == 60


def test_an_offline_queue_resent_whole_is_stored_once_with_its_session():
    # Large enough for the arrays' INSERT on PostgreSQL (stations/meter_samples.py) and
    # for two statements on SQLite (bulk_insert.ROWS_PER_STATEMENT).
    count = meter_samples.ARRAYS_FROM + 50
    transaction_id = handle(
        "CP-MV-QUEUE",
        "StartTransaction",
        {"connectorId": 1, "idTag": "MV", "meterStart": 0, "timestamp": iso(ago(hours=3))},
    )["transactionId"]
    queued = [
        {
            "timestamp": iso(ago(hours=2, seconds=-n)),
            "sampledValue": [{"value": f"{n}.5", "measurand": "Energy.Active.Import.Register"}],
        }
        for n in range(count)
    ]
    request = {
        "connectorId": 1,
        "transactionId": transaction_id,
        # The charger's queue holds one reading twice: still one row.
        "meterValue": [*queued, queued[7]],
    }

    assert handle("CP-MV-QUEUE", "MeterValues", request) == {}
    assert handle("CP-MV-QUEUE", "MeterValues", request) == {}  # its answer was lost

    stored = MeterSample.objects.filter(charge_point__charge_point_id="CP-MV-QUEUE")
    assert stored.count() == count
    assert set(stored.values_list("session_id", "connector_id", "format", "unit")) == {
        (transaction_id, 1, "Raw", "Wh")
    }
    assert list(stored.order_by("timestamp").values_list("value", "value_decimal")[:2]) == [
        ("0.5", Decimal("0.5")),
        ("1.5", Decimal("1.5")),
    ]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the arrays are PostgreSQL's")
def test_a_large_batch_is_one_insert_and_skips_the_samples_already_stored():
    count = meter_samples.ARRAYS_FROM
    meter_value = [
        {"timestamp": iso(ago(hours=2, seconds=-n)), "sampledValue": [{"value": str(n)}]}
        for n in range(count)
    ]
    # Ten of them already stored (a batch sent before, its answer lost), one sent twice.
    handle("CP-MV-COPY", "MeterValues", {"connectorId": 1, "meterValue": meter_value[:10]})

    with CaptureQueriesContext(connection) as queries:
        request = {"connectorId": 1, "meterValue": [*meter_value, meter_value[42]]}
        assert handle("CP-MV-COPY", "MeterValues", request) == {}

    inserts = [query for query in queries if "INSERT" in query["sql"]]
    assert len(inserts) == 1
    stored = MeterSample.objects.filter(charge_point__charge_point_id="CP-MV-COPY")
    assert sorted(int(value) for value in stored.values_list("value", flat=True)) == list(
        range(count)
    )

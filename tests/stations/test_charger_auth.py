"""Charger passwords: a password verified once in a process is not run through PBKDF2
again (stations/charger_auth.py), and nothing else about the check changes; a new one
set on the charger by ChangeConfiguration(AuthorizationKey) (security whitepaper A01)."""

import json

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.test import Client
from rest_framework.test import APIClient
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from stations import operations
from stations.models import ChargePoint, ChargerCommand, CommandBatch, OcppMessage
from stations.ocpp import commands
from tests.conftest import PASSWORD, basic_auth, register
from tests.waiting import eventually

NEW_PASSWORD = "a-new-authorization-key-0123"


@pytest.fixture
def pbkdf2_runs(monkeypatch) -> list[int]:
    """Counts Django's PBKDF2 computations (every check of a hash runs one)."""
    runs: list[int] = []
    encode = PBKDF2PasswordHasher.encode

    def counted(self, *args, **kwargs):
        runs.append(1)
        return encode(self, *args, **kwargs)

    monkeypatch.setattr(PBKDF2PasswordHasher, "encode", counted)
    return runs


def test_a_charger_password_verified_once_is_not_run_through_pbkdf2_again(pbkdf2_runs):
    charge_point = ChargePoint(charge_point_id="CP-AUTH-AGAIN")
    charge_point.set_password(PASSWORD)
    pbkdf2_runs.clear()

    assert charge_point.check_password(PASSWORD)
    assert charge_point.check_password(PASSWORD)
    assert charge_point.check_password(PASSWORD)

    assert len(pbkdf2_runs) == 1


def test_a_wrong_password_is_refused_after_the_right_one_was_verified(pbkdf2_runs):
    charge_point = ChargePoint(charge_point_id="CP-AUTH-WRONG")
    charge_point.set_password(PASSWORD)
    assert charge_point.check_password(PASSWORD)
    pbkdf2_runs.clear()

    assert not charge_point.check_password(PASSWORD + "x")
    assert not charge_point.check_password(PASSWORD.upper())
    assert not charge_point.check_password("")
    assert pbkdf2_runs == []  # refused as cheaply: the hash has one password
    assert charge_point.check_password(PASSWORD)


def test_a_changed_password_is_checked_against_the_new_hash():
    charge_point = ChargePoint(charge_point_id="CP-AUTH-CHANGED")
    charge_point.set_password(PASSWORD)
    assert charge_point.check_password(PASSWORD)

    charge_point.set_password(NEW_PASSWORD)

    assert not charge_point.check_password(PASSWORD)
    assert charge_point.check_password(NEW_PASSWORD)


def test_a_wrong_password_is_never_remembered_as_right():
    charge_point = ChargePoint(charge_point_id="CP-AUTH-NEVER")
    charge_point.set_password(PASSWORD)

    assert not charge_point.check_password(NEW_PASSWORD)
    assert not charge_point.check_password(NEW_PASSWORD)
    assert charge_point.check_password(PASSWORD)


async def _connects(server: str, cp_id: str, password: str) -> bool:
    """Whether the server lets the charger in (False: refused with 403)."""
    try:
        async with connect(
            f"{server}/ocpp/{cp_id}",
            subprotocols=["ocpp1.6"],
            additional_headers=basic_auth(cp_id, password),
            open_timeout=10,
        ):
            return True
    except InvalidStatus as refusal:
        assert refusal.response.status_code == 403
        return False


async def test_a_charger_that_connected_before_needs_its_new_password_once_staff_change_it(
    ocpp_server, db_access
):
    cp_id = "CP-AUTH-ROTATED"
    charge_point = await sync_to_async(register)(cp_id)
    assert await _connects(ocpp_server, cp_id, PASSWORD)  # the server remembers it now

    charge_point.set_password(NEW_PASSWORD)
    await sync_to_async(charge_point.save)(update_fields=["password_hash"])

    assert not await _connects(ocpp_server, cp_id, PASSWORD)
    assert await _connects(ocpp_server, cp_id, NEW_PASSWORD)
    assert not await _connects(ocpp_server, cp_id, PASSWORD)


def _kept_in_clear(cp_id: str, secret: str) -> list[str]:
    """Where ChargeHub keeps `secret` in clear: the charger's stored configuration, its
    command records, its message log."""
    places = []
    if secret in json.dumps(ChargePoint.objects.get(charge_point_id=cp_id).configuration):
        places.append("configuration")
    commands = ChargerCommand.objects.filter(charge_point__charge_point_id=cp_id)
    if any(secret in json.dumps(command.payload) for command in commands):
        places.append("commands")
    if OcppMessage.objects.filter(charge_point_id=cp_id, frame__contains=secret).exists():
        places.append("message log")
    return places


def _change_configuration_logged(cp_id: str) -> bool:
    return OcppMessage.objects.filter(
        charge_point_id=cp_id, action="ChangeConfiguration", direction="out"
    ).exists()


async def test_a_new_authorization_key_the_charger_accepts_replaces_its_password(
    ocpp_server, charger
):
    """Security whitepaper A01: ChangeConfiguration(AuthorizationKey) accepted, the
    charger's next connection needs the new key and the old one is refused (A01.FR.03);
    the key is kept nowhere in clear (A01.FR.09)."""
    cp_id = "CP-AUTH-A01"
    async with charger(cp_id) as cp:
        await cp.boot()
        answer = await sync_to_async(operations.change_configuration)(
            cp_id, "AuthorizationKey", NEW_PASSWORD
        )
        assert answer.status == "Accepted"
        assert ("ChangeConfiguration", {"key": "AuthorizationKey", "value": NEW_PASSWORD}) in (
            cp.received
        )
    assert await _connects(ocpp_server, cp_id, NEW_PASSWORD)
    assert not await _connects(ocpp_server, cp_id, PASSWORD)
    assert await eventually(lambda: _change_configuration_logged(cp_id))
    assert await sync_to_async(_kept_in_clear)(cp_id, NEW_PASSWORD) == []


async def test_a_new_authorization_key_the_charger_rejects_leaves_the_old_password(
    ocpp_server, charger
):
    """A01.FR.04: refused, the charger keeps its password, and so does ChargeHub."""
    cp_id = "CP-AUTH-A01-NO"
    async with charger(cp_id) as cp:
        cp.answers["ChangeConfiguration"] = {"status": "Rejected"}
        await cp.boot()
        answer = await sync_to_async(operations.change_configuration)(
            cp_id, "authorizationkey", NEW_PASSWORD
        )
        assert answer.status == "Rejected"
    assert await _connects(ocpp_server, cp_id, PASSWORD)
    assert not await _connects(ocpp_server, cp_id, NEW_PASSWORD)


@pytest.mark.django_db
def test_an_authorization_key_shorter_than_16_characters_is_refused_unsent():
    register("CP-AUTH-A01-SHORT")
    with pytest.raises(commands.InvalidCommand, match="at least 16 characters"):
        operations.change_configuration("CP-AUTH-A01-SHORT", "AuthorizationKey", "too-short")
    assert not ChargerCommand.objects.filter(
        charge_point__charge_point_id="CP-AUTH-A01-SHORT"
    ).exists()


@pytest.mark.django_db
def test_admin_sets_an_authorization_key_on_one_charger_at_a_time(make_user):
    """A01.FR.06: each charger its own password; a batch would also keep it to send later."""
    chargers = [register(f"CP-AUTH-A01-ADM-{n}") for n in (1, 2)]
    client = Client()
    client.force_login(make_user(is_staff=True, is_superuser=True))
    page = client.post(
        "/admin/stations/chargepoint/",
        {
            "action": "change_configuration",
            "_selected_action": [cp.pk for cp in chargers],
            "post": "yes",
            "key": "AuthorizationKey",
            "value": NEW_PASSWORD,
        },
    )
    assert page.status_code == 200
    assert "set it on one charger at a time" in page.content.decode()
    assert not CommandBatch.objects.exists()
    assert not ChargerCommand.objects.exists()


async def test_a_new_authorization_key_sent_through_the_staff_api_replaces_the_password_too(
    ocpp_server, charger, make_user
):
    """The rule is the command door's (stations/ocpp/commands.py send_payload), so a raw
    ChangeConfiguration from the staff API (or `manage.py ocpp_call`) does not lock the
    charger out either."""
    cp_id = "CP-AUTH-A01-API"
    staff = await sync_to_async(make_user)(is_staff=True, is_superuser=True)
    api = APIClient()
    api.force_authenticate(staff)
    async with charger(cp_id) as cp:
        await cp.boot()
        response = await sync_to_async(api.post)(
            f"/api/v1/charge-points/{cp_id}/commands/",
            {
                "action": "ChangeConfiguration",
                "payload": {"key": "AuthorizationKey", "value": NEW_PASSWORD},
            },
            format="json",
        )
        assert response.status_code == 200, response.content
    assert await _connects(ocpp_server, cp_id, NEW_PASSWORD)
    assert not await _connects(ocpp_server, cp_id, PASSWORD)
    assert await eventually(lambda: _change_configuration_logged(cp_id))
    assert await sync_to_async(_kept_in_clear)(cp_id, NEW_PASSWORD) == []


async def test_an_authorization_key_a_charger_reads_back_is_stored_hidden(charger):
    """The whitepaper makes AuthorizationKey write-only; a charger that still reports it
    in GetConfiguration does not get it kept in clear."""
    cp_id = "CP-AUTH-A01-READ"
    async with charger(cp_id) as cp:
        cp.answers["GetConfiguration"] = {
            "configurationKey": [
                {"key": "AuthorizationKey", "readonly": False, "value": NEW_PASSWORD},
                {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
            ]
        }
        await cp.boot()
        await sync_to_async(operations.refresh_configuration)(cp_id)
    stored = await sync_to_async(ChargePoint.objects.get)(charge_point_id=cp_id)
    assert stored.configuration == {
        "AuthorizationKey": {"value": "(hidden)", "readonly": False},
        "HeartbeatInterval": {"value": "300", "readonly": False},
    }

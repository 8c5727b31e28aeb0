"""Charger passwords: a password verified once in a process is not run through PBKDF2
again (stations/charger_auth.py), and nothing else about the check changes."""

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from stations.models import ChargePoint
from tests.conftest import PASSWORD, basic_auth, register

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

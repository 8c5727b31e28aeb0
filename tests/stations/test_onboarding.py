"""Onboarding a charger: a site named by mistake, and attempts refused at the handshake
listed for staff (with "register this charger" for an unknown id)."""

import pytest
from asgiref.sync import sync_to_async
from django.core.management import CommandError, call_command
from django.urls import reverse
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from stations.models import ChargePoint, RefusedConnection, Site
from tests.conftest import basic_auth, eventually, register


@pytest.mark.django_db
def test_register_charger_refuses_an_unknown_site_name_and_creates_nothing():
    Site.objects.create(name="Depot North")
    with pytest.raises(CommandError) as refused:
        call_command("register_charger", "ONB-TYPO", "--site", "Depot Nroth")
    assert "Depot Nroth" in str(refused.value)
    assert "Depot North" in str(refused.value)  # the sites there are, to spot the typo
    assert "--create-site" in str(refused.value)
    assert not ChargePoint.objects.filter(charge_point_id="ONB-TYPO").exists()
    assert list(Site.objects.values_list("name", flat=True)) == ["Depot North"]


@pytest.mark.django_db
def test_register_charger_uses_an_existing_site_and_creates_one_only_when_asked():
    north = Site.objects.create(name="Depot North")
    call_command("register_charger", "ONB-NORTH", "--site", "Depot North")
    call_command("register_charger", "ONB-EAST", "--site", "Depot East", "--create-site")
    assert ChargePoint.objects.get(charge_point_id="ONB-NORTH").site == north
    assert ChargePoint.objects.get(charge_point_id="ONB-EAST").site.name == "Depot East"
    assert Site.objects.count() == 2


async def _knock(url: str, **kwargs) -> None:
    with pytest.raises(InvalidStatus) as refusal:
        async with connect(url, open_timeout=10, subprotocols=["ocpp1.6"], **kwargs):
            pass
    assert refusal.value.response.status_code == 403


async def test_refused_attempts_are_counted_per_charger_address_and_reason(ocpp_server, db_access):
    await sync_to_async(register)("ONB-KNOWN")
    for _ in range(2):
        await _knock(f"{ocpp_server}/ocpp/ONB-STRANGER")
    await _knock(
        f"{ocpp_server}/ocpp/ONB-KNOWN", additional_headers=basic_auth("ONB-KNOWN", "old-password")
    )

    # Counted after the refusal is sent: the charger never waits for it.
    def counted() -> list[tuple[str, str, str, int]]:
        return list(
            RefusedConnection.objects.order_by("charge_point_id").values_list(
                "charge_point_id", "address", "reason", "count"
            )
        )

    expected = [
        ("ONB-KNOWN", "127.0.0.1", "wrong password", 1),
        ("ONB-STRANGER", "127.0.0.1", "unknown charge point id", 2),
    ]
    assert await eventually(lambda: counted() == expected)


@pytest.mark.django_db
def test_admin_lists_refused_attempts_and_offers_to_register_an_unknown_charger(admin_client):
    RefusedConnection.objects.create(
        charge_point_id="ONB-NEW", address="10.0.0.7", reason="unknown charge point id", count=3
    )
    RefusedConnection.objects.create(
        charge_point_id="ONB-OLDPW", address="10.0.0.8", reason="wrong password"
    )
    page = admin_client.get(reverse("admin:stations_refusedconnection_changelist"))
    html = page.content.decode()
    assert "ONB-NEW" in html and "10.0.0.7" in html and "ONB-OLDPW" in html
    add = reverse("admin:stations_chargepoint_add") + "?charge_point_id=ONB-NEW"
    assert html.count("Register this charger") == 1
    assert add in html

    form = admin_client.get(add)
    assert form.context["adminform"].form["charge_point_id"].value() == "ONB-NEW"

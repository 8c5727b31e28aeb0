"""A session's figures pushed to its page: kWh, power, state of charge, cost so far.

A real charger talks to the real server process (tests/conftest.py); the driver's page
is a WebSocket client of `ws/live/` here, in another process, as a browser would be.
"""

from datetime import UTC
from decimal import Decimal
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from billing import session_figures
from billing.models import Tariff, TariffAssignment
from portal import live_figures
from stations import live, signals
from stations.models import ChargePoint, ChargingSession, Site
from stations.ocpp import v16
from tests.billing.sessions import meter_sample
from tests.conftest import PASSWORD, register
from tests.notifications.test_driver_events import tasks_run
from tests.portal.places import first_connector, place, session_of, token_of
from tests.portal.test_live import _cookie_of, _socket, _watch
from tests.stations.ocpp_wire import ago, iso, send
from users.models import IdToken, User


def _sampled(value: str, measurand: str, unit: str, **fields: str) -> dict[str, str]:
    return {"value": value, "measurand": measurand, "unit": unit, **fields}


def _meter_values(
    transaction_id: int, *sampled: dict[str, str], seconds_ago: int = 1
) -> dict[str, Any]:
    return {
        "connectorId": 1,
        "transactionId": transaction_id,
        "meterValue": [{"timestamp": iso(ago(seconds=seconds_ago)), "sampledValue": list(sampled)}],
    }


# --- The figures ---------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(("value", "unit"), [("7200", "W"), ("7.2", "kW")])
def test_power_is_the_latest_active_power_sample_in_kw(driver, value, unit):
    session = session_of(token_of(driver), first_connector(place("Power")), active=True)
    meter_sample(session, "Power.Active.Import", "3000", "W", minutes_after_start=5)
    meter_sample(session, "Power.Active.Import", value, unit, minutes_after_start=10)
    # A per-phase value is not the charger's total.
    meter_sample(session, "Power.Active.Import", "2400", "W", minutes_after_start=11, phase="L1")
    assert session_figures.figures(session).power_kw == Decimal("7.2")


@pytest.mark.django_db
def test_state_of_charge_is_the_latest_soc_sample_in_whole_percent(driver):
    session = session_of(token_of(driver), first_connector(place("SoC")), active=True)
    meter_sample(session, "SoC", "40", "Percent", minutes_after_start=5)
    meter_sample(session, "SoC", "54.5", "Percent", minutes_after_start=10, location="EV")
    assert session_figures.figures(session).soc_percent == 55


@pytest.mark.django_db
def test_without_power_or_soc_samples_they_are_unknown(driver):
    session = session_of(token_of(driver), first_connector(place("Unknown")), active=True)
    meter_sample(session, "Energy.Active.Import.Register", "2000", "Wh")
    figures = session_figures.figures(session)
    assert (figures.power_kw, figures.soc_percent) == (None, None)
    assert figures.energy_kwh == Decimal("1.000")


@pytest.mark.django_db
def test_an_ended_session_has_no_power_but_keeps_its_last_soc(driver):
    session = session_of(token_of(driver), first_connector(place("Ended")), minutes=60)
    meter_sample(session, "Power.Active.Import", "11", "kW")
    meter_sample(session, "SoC", "80", "Percent")
    figures = session_figures.figures(session)
    assert (figures.power_kw, figures.soc_percent) == (None, 80)


# --- The page as served --------------------------------------------------------------------


@pytest.mark.django_db
def test_session_page_shows_power_and_soc_when_the_charger_reports_them(driver, driver_client):
    session = session_of(token_of(driver), first_connector(place("Shown")), active=True)
    meter_sample(session, "Power.Active.Import", "11040", "W")
    meter_sample(session, "SoC", "63", "Percent")
    page = driver_client.get(reverse("portal:session", args=[session.pk])).content.decode()
    assert '<div data-figure="power_kw"><dt>Power (kW)</dt><dd data-field="power_kw">11.0</dd>' in (
        page
    )
    assert (
        '<div data-figure="soc_percent"><dt>Battery (%)</dt><dd data-field="soc_percent">63<'
        in (page)
    )
    figures = driver_client.get(reverse("portal:session-figures", args=[session.pk])).json()
    assert (figures["power_kw"], figures["soc_percent"]) == ("11.0", "63")


@pytest.mark.django_db
def test_session_page_hides_power_and_soc_until_they_are_known(driver, driver_client):
    session = session_of(token_of(driver), first_connector(place("Hidden")), active=True)
    page = driver_client.get(reverse("portal:session", args=[session.pk])).content.decode()
    # Present for the live figures to fill in, but not shown.
    assert '<div data-figure="power_kw" hidden>' in page
    assert '<div data-figure="soc_percent" hidden>' in page
    # The page watches its session on the live socket.
    assert '{"watch": "session", "id": ' + str(session.pk) + "}" in page


@pytest.mark.django_db
def test_session_page_in_swedish_formats_power_its_way(driver, driver_client):
    session = session_of(token_of(driver), first_connector(place("Svensk")), active=True)
    meter_sample(session, "Power.Active.Import", "7.4", "kW")
    response = driver_client.get(
        reverse("portal:session", args=[session.pk]), headers={"accept-language": "sv"}
    )
    page = response.content.decode()
    assert '<html lang="sv">' in page  # what session.js formats pushed figures by
    assert '<dd data-field="power_kw">7,4</dd>' in page


# --- Pushed from a real charger ------------------------------------------------------------


def _charger_driver_and_watchers(charge_point_id: str) -> tuple[IdToken, bytes, bytes]:
    site = Site.objects.create(name=f"Live figures {charge_point_id}")
    # 2.00 SEK per kWh net, 25 % VAT: 2.50 SEK per kWh.
    tariff = Tariff.objects.create(
        name="Live figures", price_per_kwh=Decimal("2.00"), vat_rate=Decimal(25)
    )
    TariffAssignment.objects.create(tariff=tariff, site=site)
    register(charge_point_id, PASSWORD, site=site)
    driver = User.objects.create_user(f"{charge_point_id.lower()}@example.com", "pw")
    other = User.objects.create_user(f"other-{charge_point_id.lower()}@example.com", "pw")
    return token_of(driver), _cookie_of(driver), _cookie_of(other)


async def test_the_driver_watching_a_session_gets_its_figures_as_the_charger_reports(
    charger, db_access
):
    token, driver_cookie, other_cookie = await sync_to_async(_charger_driver_and_watchers)(
        "LIVE-FIGURES"
    )
    async with charger("LIVE-FIGURES") as cp:
        await cp.boot()
        started_at = ago(minutes=30)
        started = await send(
            cp,
            "StartTransaction",
            {
                "connectorId": 1,
                "idTag": token.uid,
                "meterStart": 10_000,
                "timestamp": iso(started_at),
            },
        )
        session_id = started["transactionId"]
        mine, theirs = await _socket(driver_cookie), await _socket(other_cookie)
        try:
            assert (await _watch(mine, watch="session", id=session_id))["kind"] == "watching"
            assert (await _watch(theirs, watch="session", id=session_id))["kind"] == "refused"

            answer = await send(
                cp,
                "MeterValues",
                _meter_values(
                    session_id,
                    _sampled("22345", "Energy.Active.Import.Register", "Wh"),
                    _sampled("7.2", "Power.Active.Import", "kW"),
                    _sampled("54", "SoC", "Percent", location="EV"),
                    seconds_ago=60,
                ),
            )
            assert answer == {}

            # 12.345 kWh at 2.50 SEK: 30.8625, rounded once to 30.86.
            assert await mine.receive_json_from(timeout=10) == {
                "kind": "figures",
                "session": session_id,
                "status": "active",
                "energy_kwh": "12.345",
                "power_kw": "7.200",
                "soc_percent": 54,
                "cost": {"gross": "30.86", "currency": "SEK"},
                "started_at": started_at.astimezone(UTC).isoformat(),
            }

            # Power in W, and a charger that does not report the battery.
            await send(
                cp,
                "MeterValues",
                _meter_values(
                    session_id,
                    _sampled("24345", "Energy.Active.Import.Register", "Wh"),
                    _sampled("11000", "Power.Active.Import", "W"),
                ),
            )
            update = await mine.receive_json_from(timeout=10)
            assert (update["energy_kwh"], update["power_kw"]) == ("14.345", "11.000")
            assert update["soc_percent"] == 54  # still the latest the car told
            assert update["cost"] == {"gross": "35.86", "currency": "SEK"}

            assert await theirs.receive_nothing(timeout=0.5)
        finally:
            for page in (mine, theirs):
                await page.disconnect()


# --- The charger's request never fails for the page's sake --------------------------------

UNREACHABLE_REDIS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]},
    }
}


@pytest.mark.django_db(transaction=True)
def test_meter_values_are_answered_when_the_live_update_cannot_be_sent(driver, caplog):
    """The figures are sent after commit; a channel layer that is down is logged only."""
    session = session_of(token_of(driver), first_connector(place("Layer down")), active=True)
    charge_point = ChargePoint.objects.get(pk=session.charge_point_id)
    payload = _meter_values(session.pk, _sampled("13000", "Energy.Active.Import.Register", "Wh"))
    with override_settings(CHANNEL_LAYERS=UNREACHABLE_REDIS):
        answer = v16.handle(charge_point, "MeterValues", payload, timezone.now())
    assert answer == {}
    assert session.meter_samples.filter(value_decimal=Decimal(13000)).exists()
    assert "Live update not sent" in caplog.text


def test_an_ended_session_gets_no_figures_pushed(driver):
    """The task may run after StopTransaction: the page reloads with the final figures."""
    session = session_of(token_of(driver), first_connector(place("Ended push")))
    assert session.status != ChargingSession.Status.ACTIVE
    assert live_figures.push_session_figures(session.pk) is False
    assert live_figures.push_session_figures(999_999) is False


def test_a_running_session_gets_its_figures_pushed(driver):
    session = session_of(token_of(driver), first_connector(place("Running push")), active=True)
    assert live_figures.push_session_figures(session.pk) is True


@pytest.mark.django_db
def test_figures_are_queued_only_while_a_page_watches_the_session(driver):
    """Nobody watching (in any process: the channel layer's group): no task, whose
    publish alone would cost the charger's MeterValues about 1 ms."""
    session = session_of(token_of(driver), first_connector(place("Watched push")), active=True)
    session = ChargingSession.objects.select_related("id_token").get(pk=session.pk)
    group, layer = live.session_group(session.pk), get_channel_layer()

    def figures_queued() -> bool:
        with tasks_run() as ran:
            signals.meter_values_received.send(sender=ChargingSession, session=session, samples=[])
        return "push_session_figures" in ran

    assert not figures_queued()
    async_to_sync(layer.group_add)(group, "page.watching")  # a page, in whichever process
    try:
        assert figures_queued()
    finally:
        async_to_sync(layer.group_discard)(group, "page.watching")
    assert not figures_queued()

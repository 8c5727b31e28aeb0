"""A site whose cars draw more than its grid limit (stations/load_balancing.py note_draw,
stations' `site_over_limit`) gets one ticket, and its technicians are told once, however
often MeterValues find it over; a technician who chose the digest hears it there."""

from decimal import Decimal

import pytest
from django.utils import timezone

from operations import alerts
from operations.models import Ticket
from stations import load_balancing
from stations.models import ChargePoint, ChargingSession, Connector, MeterSample, Site
from tests.operations.technicians import make_technician

pytestmark = pytest.mark.django_db


@pytest.fixture
def session() -> ChargingSession:
    """A running session on a site managed at 16 A per phase (allocated, so the draw is
    stored)."""
    site = Site.objects.create(name="Kajen", grid_limit_amps=16)
    charge_point = ChargePoint.objects.create(charge_point_id="CP-OVER", site=site)
    connector = Connector.objects.create(charge_point=charge_point, connector_id=1)
    running = ChargingSession.objects.create(
        charge_point=charge_point,
        connector=connector,
        id_tag="A",
        started_at=timezone.now(),
        meter_start_wh=0,
    )
    load_balancing.allocate_site(site)
    return running


def draws(session: ChargingSession, amps: str, capture) -> None:
    """A MeterValues reading of the car's current, as the receiver handles it."""
    MeterSample.objects.create(
        charge_point=session.charge_point,
        connector_id=1,
        session=session,
        timestamp=timezone.now(),
        measurand=load_balancing.CURRENT,
        unit="A",
        value=amps,
        value_decimal=Decimal(amps),
    )
    with capture(execute=True):  # the signal leaves after commit
        load_balancing.note_draw(session)


def test_a_site_over_its_limit_is_one_ticket_and_its_technician_is_told_once(
    session, mailoutbox, django_capture_on_commit_callbacks
):
    technician = make_technician(session.charge_point.site)

    draws(session, "12", django_capture_on_commit_callbacks)
    assert not Ticket.objects.exists()  # under the limit

    draws(session, "20", django_capture_on_commit_callbacks)
    draws(session, "22", django_capture_on_commit_callbacks)  # still over: the same ticket

    [ticket] = Ticket.objects.all()
    assert ticket.kind == Ticket.Kind.SITE_OVER_LIMIT
    assert ticket.title == "Kajen draws more than its limit"
    assert ticket.occurrences == 2
    [mail] = mailoutbox
    assert mail.to == [technician.email]
    assert "Kajen draws more than its limit" in mail.subject


def test_a_technician_who_chose_the_digest_hears_it_there(
    session, mailoutbox, django_capture_on_commit_callbacks
):
    technician = make_technician(session.charge_point.site, digest=True)

    draws(session, "20", django_capture_on_commit_callbacks)
    assert mailoutbox == []

    assert alerts.send_digests() == 1
    [digest] = mailoutbox
    assert digest.to == [technician.email]
    assert "Kajen draws more than its limit" in digest.body

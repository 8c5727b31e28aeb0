"""The portal's support pages (portal/support_views.py): "Report a problem" from a
station's and a session's page, /account/support/ with support's answers, a case's
thread; another driver's case or session is a 404, bad input a 400 with the form."""

import pytest
from django.test import Client
from django.urls import reverse

from operations import support
from operations.models import SupportCase, Ticket
from tests.operations.support_data import session_of
from tests.portal.places import first_connector, place

pytestmark = pytest.mark.django_db
REPORT = reverse("portal:support-report")


def test_the_station_page_offers_report_a_problem_and_the_report_lands_as_a_case(
    driver, driver_client
):
    site = place("Support", connectors=(("Type2", "22", "Faulted"), ("CCS2", "150", "Available")))
    connector = first_connector(site)
    station = driver_client.get(reverse("portal:station", args=[site.pk])).content.decode()
    link = f"{REPORT}?site={site.pk}"
    assert link in station

    form = driver_client.get(link)
    assert form.status_code == 200
    assert site.name in form.content.decode()
    response = driver_client.post(
        link,
        {"category": "charger_broken", "connector": connector.pk, "message": "Red light, no start"},
    )

    case = SupportCase.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:support-case", args=[case.pk])
    assert (case.driver, case.site, case.connector) == (driver, site, connector)
    assert case.ticket == Ticket.objects.get()
    page = driver_client.get(response["Location"]).content.decode()
    assert "Red light, no start" in page


def test_a_report_from_the_station_without_a_connector_keeps_the_station(driver, driver_client):
    site = place("Support")
    driver_client.post(f"{REPORT}?site={site.pk}", {"category": "other", "message": "No light"})
    case = SupportCase.objects.get()
    assert (case.site, case.charge_point, case.ticket) == (site, None, None)


def test_the_session_page_offers_report_a_problem_about_that_session(driver, driver_client):
    session = session_of(driver)
    page = driver_client.get(reverse("portal:session", args=[session.pk])).content.decode()
    link = f"{REPORT}?session={session.pk}"
    assert link in page.replace("&amp;", "&")

    driver_client.post(link, {"category": "payment", "message": "Charged twice"})

    case = SupportCase.objects.get()
    assert (case.session, case.connector, case.category) == (session, session.connector, "payment")


def test_another_drivers_session_or_case_is_not_found(driver_client, make_user):
    other = make_user()
    theirs = session_of(other)
    case = support.report(other, category="other", message="Private")

    assert driver_client.get(f"{REPORT}?session={theirs.pk}").status_code == 404
    response = driver_client.post(
        f"{REPORT}?session={theirs.pk}", {"category": "payment", "message": "Refund me"}
    )
    assert response.status_code == 404
    assert driver_client.get(reverse("portal:support-case", args=[case.pk])).status_code == 404
    response = driver_client.post(reverse("portal:support-case", args=[case.pk]), {"body": "Hello"})
    assert response.status_code == 404
    assert SupportCase.objects.count() == 1 and case.messages.count() == 1


@pytest.mark.parametrize(
    ("query", "data", "status"),
    [
        ("", {"category": "", "message": "x"}, 400),
        ("", {"category": "other", "message": "   "}, 400),
        ("", {"category": "weather", "message": "x"}, 400),
        ("", {"category": "other", "message": "x" * 5001}, 400),
        ("?site={site}", {"category": "other", "message": "x", "connector": "nine"}, 400),
        ("?site={site}", {"category": "other", "message": "x", "connector": "999999"}, 400),
        ("?session=abc", {"category": "other", "message": "x"}, 404),
        ("?session=999999", {"category": "other", "message": "x"}, 404),
        ("?site=99999999999999999999", {"category": "other", "message": "x"}, 404),
        ("?site=999999", {"category": "other", "message": "x"}, 404),
        ("?site=%EF%BC%91", {"category": "other", "message": "x"}, 404),  # a full-width 1
    ],
)
def test_bad_input_is_a_4xx_never_a_500(driver_client, query, data, status):
    site = place("Any")
    response = driver_client.post(f"{REPORT}{query.format(site=site.pk)}", data)
    assert response.status_code == status
    assert not SupportCase.objects.exists()


def test_the_support_page_lists_the_drivers_cases_and_supports_answers(
    driver, driver_client, make_user
):
    case = support.report(driver, category="card", message="Card not read")
    support.answer(case, "We sent you a new card.", by=make_user(is_staff=True))
    support.report(make_user(), category="other", message="Someone else's")

    page = driver_client.get(reverse("portal:support"))

    assert page.status_code == 200
    text = page.content.decode()
    assert "Card not read" in text and "We sent you a new card." in text
    assert "Someone else" not in text
    assert list(page.context["cases"]) == [case]


def test_the_driver_writes_again_in_their_case(driver, driver_client):
    case = support.report(driver, category="other", message="Help")
    url = reverse("portal:support-case", args=[case.pk])

    response = driver_client.post(url, {"body": "It happened again."})

    assert response.status_code == 302
    assert [m.body for m in case.messages.all()] == ["Help", "It happened again."]
    assert driver_client.post(url, {"body": ""}).status_code == 400


def test_the_support_pages_need_a_login():
    client = Client()
    for url in (reverse("portal:support"), REPORT):
        response = client.get(url)
        assert response.status_code == 302
        assert "login" in response["Location"]

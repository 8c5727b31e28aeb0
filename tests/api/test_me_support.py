"""/api/v1/me/support-cases/: a driver reports a problem and reads support's answers
(operations/support.py, the same rules as the portal's pages)."""

import pytest

from operations import support
from operations.models import SupportCase, Ticket
from tests.operations.support_data import second_connector, session_of

pytestmark = pytest.mark.django_db
URL = "/api/v1/me/support-cases/"


def test_anonymous_gets_401(anonymous):
    assert anonymous.get(URL).status_code == 401
    assert anonymous.post(URL, {"category": "other", "message": "x"}).status_code == 401


def test_a_report_about_a_connector_lands_as_a_case_with_a_ticket(as_driver, driver, connector):
    response = as_driver.post(
        URL,
        {"category": "charger_broken", "message": "The cable is torn", "connector": connector.pk},
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    case = SupportCase.objects.get()
    assert (case.driver, case.connector, case.category) == (driver, connector, "charger_broken")
    assert body["id"] == case.pk
    assert body["charge_point"] == connector.charge_point.charge_point_id
    assert body["connector_id"] == 1
    assert body["status"] == "open"
    assert [m["body"] for m in body["messages"]] == ["The cable is torn"]
    assert Ticket.objects.get() == case.ticket
    assert "ticket" not in body  # staff's business


def test_a_report_about_a_session_of_ones_own(as_driver, driver, connector):
    session = session_of(driver, connector)
    response = as_driver.post(
        URL,
        {"category": "payment", "message": "Charged twice", "session": session.pk},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["session"] == session.pk


def test_another_drivers_session_is_not_found(as_driver, other_driver, connector):
    theirs = session_of(other_driver, connector)
    response = as_driver.post(
        URL, {"category": "payment", "message": "Refund me", "session": theirs.pk}, format="json"
    )
    assert response.status_code == 404
    assert not SupportCase.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"message": "x"}, "category"),
        ({"category": "weather", "message": "x"}, "category"),
        ({"category": "other"}, "message"),
        ({"category": "other", "message": "   "}, "message"),
        ({"category": "other", "message": "x" * 5001}, "message"),
        ({"category": "other", "message": "x", "connector": 999999}, "connector"),
        ({"category": "other", "message": "x", "connector": "one"}, "connector"),
        ({"category": "other", "message": "x", "session": "abc"}, "session"),
        ({"category": "other", "message": "x", "session": 2**70}, "session"),
        ({"category": "other", "message": "x", "session": -1}, "session"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(as_driver, body, field):
    response = as_driver.post(URL, body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not SupportCase.objects.exists()


def test_a_connector_that_is_not_the_sessions_is_a_400(as_driver, driver, connector):
    session = session_of(driver, connector)
    response = as_driver.post(
        URL,
        {
            "category": "other",
            "message": "x",
            "session": session.pk,
            "connector": second_connector(connector).pk,
        },
        format="json",
    )
    assert response.status_code == 400
    assert "detail" in response.json()


def test_the_driver_lists_their_cases_with_supports_answers_and_never_anothers(
    as_driver, driver, other_driver, make_user
):
    mine = support.report(driver, category="card", message="Card not read")
    theirs = support.report(other_driver, category="other", message="Not yours")
    support.answer(mine, "Try again now.", by=make_user(is_staff=True))

    results = as_driver.get(URL).json()["results"]

    assert [case["id"] for case in results] == [mine.pk]
    assert [(m["from_staff"], m["body"]) for m in results[0]["messages"]] == [
        (False, "Card not read"),
        (True, "Try again now."),
    ]
    assert results[0]["status"] == "answered"
    assert as_driver.get(f"{URL}{theirs.pk}/").status_code == 404
    response = as_driver.post(f"{URL}{theirs.pk}/messages/", {"body": "Hi"}, format="json")
    assert response.status_code == 404
    assert theirs.messages.count() == 1


def test_the_driver_writes_again_in_their_case(as_driver, driver):
    case = support.report(driver, category="other", message="Help")
    response = as_driver.post(f"{URL}{case.pk}/messages/", {"body": "More detail"}, format="json")
    assert response.status_code == 201
    assert [m["body"] for m in response.json()["messages"]] == ["Help", "More detail"]
    assert (
        as_driver.post(f"{URL}{case.pk}/messages/", {"body": ""}, format="json").status_code == 400
    )

"""Driver support's rules (operations/support.py): a report becomes a case, a report on a
charger joins its open ticket or opens one, support's answer is emailed once, and a
payment case is refunded by a credit note, once."""

from decimal import Decimal

import pytest

from billing.models import Invoice
from billing.wallet import wallet_balance
from charging.refusals import Refused
from operations import support, tickets
from operations.models import SupportCase, Ticket, TicketEntry
from tests.billing.sessions import charging_site
from tests.operations.support_data import paid_from_wallet, second_connector, session_of

pytestmark = pytest.mark.django_db
Category = SupportCase.Category


@pytest.fixture
def connector():
    return charging_site("Support")


@pytest.fixture
def staff(make_user):
    return make_user(is_staff=True)


def test_a_report_is_a_case_with_the_drivers_first_message(driver, connector):
    case = support.report(
        driver, category=Category.OTHER, message="  The screen is dark.  ", connector=connector
    )

    assert (case.driver, case.status, case.message) == (driver, "open", "The screen is dark.")
    assert (case.site, case.charge_point, case.connector) == (
        connector.charge_point.site,
        connector.charge_point,
        connector,
    )
    assert [(m.author, m.from_staff, m.body) for m in case.messages.all()] == [
        (driver, False, "The screen is dark.")
    ]


def test_a_report_on_a_charger_without_a_ticket_opens_a_driver_report_ticket(driver, connector):
    case = support.report(
        driver, category=Category.CHARGER_BROKEN, message="Cable torn", connector=connector
    )

    ticket = Ticket.objects.get()
    assert case.ticket == ticket
    assert (ticket.kind, ticket.charge_point, ticket.connector, ticket.status) == (
        Ticket.Kind.DRIVER_REPORT,
        connector.charge_point,
        connector,
        Ticket.Status.OPEN,
    )
    entry = ticket.entries.get()
    assert "Cable torn" in entry.text
    assert entry.data["support_case"] == case.pk


def test_a_report_on_a_charger_already_ticketed_joins_that_ticket(driver, connector):
    faulted, _created = tickets.raise_fault(
        Ticket.Kind.FAULTED,
        title="Connector faulted",
        charge_point=connector.charge_point,
        connector=connector,
    )

    case = support.report(
        driver, category=Category.CHARGER_BROKEN, message="Will not start", connector=connector
    )

    assert Ticket.objects.get() == faulted == case.ticket
    faulted.refresh_from_db()
    assert faulted.occurrences == 2
    assert [e.data.get("support_case") for e in faulted.entries.all()] == [None, case.pk]


def test_a_report_on_one_connector_joins_the_ticket_of_the_whole_charger(driver, connector):
    offline, _created = tickets.raise_fault(
        Ticket.Kind.OFFLINE, title="Charger offline", charge_point=connector.charge_point
    )
    other = second_connector(connector)

    case = support.report(driver, category=Category.CARD, message="Card not read", connector=other)

    assert case.ticket == offline
    assert Ticket.objects.count() == 1


def test_a_resolved_ticket_is_not_joined_a_new_one_opens(driver, connector):
    old, _created = tickets.raise_fault(
        Ticket.Kind.FAULTED,
        title="Faulted",
        charge_point=connector.charge_point,
        connector=connector,
    )
    tickets.resolve(old, "Available again")

    case = support.report(
        driver, category=Category.CHARGER_BROKEN, message="Broken again", connector=connector
    )

    assert case.ticket != old
    assert case.ticket.kind == Ticket.Kind.DRIVER_REPORT


def test_a_report_about_a_session_names_its_charger_and_connector(driver, connector):
    session = session_of(driver, connector)

    case = support.report(
        driver, category=Category.CHARGER_BROKEN, message="Stopped by itself", session=session
    )

    assert (case.session, case.connector, case.charge_point) == (
        session,
        connector,
        connector.charge_point,
    )
    assert case.ticket.connector == connector


def test_a_payment_case_links_to_the_sessions_charge_and_opens_no_ticket(driver, staff):
    session = paid_from_wallet(driver, staff)

    case = support.report(
        driver, category=Category.PAYMENT, message="Charged twice", session=session
    )

    assert case.ticket is None
    assert not Ticket.objects.exists()
    assert case.charge == session.charge


def test_a_report_without_a_charger_opens_no_ticket(driver):
    case = support.report(driver, category=Category.CARD, message="Lost my card")
    assert (case.charge_point, case.ticket) == (None, None)
    assert not TicketEntry.objects.exists()


def test_another_drivers_session_is_not_found(driver, make_user, connector):
    someone_elses = session_of(make_user(), connector)

    with pytest.raises(Refused) as refused:
        support.own_session(driver, someone_elses.pk)
    assert refused.value.status == 404
    with pytest.raises(Refused) as refused:
        support.report(driver, category=Category.OTHER, message="x", session=someone_elses)
    assert refused.value.status == 404
    assert not SupportCase.objects.exists()


def test_another_drivers_case_is_not_found(driver, make_user):
    case = support.report(make_user(), category=Category.OTHER, message="Mine")
    with pytest.raises(Refused) as refused:
        support.own_case(driver, case.pk)
    assert refused.value.status == 404


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"category": "weather", "message": "x"}, 400),
        ({"category": "other", "message": "   "}, 400),
        ({"category": "other", "message": "x" * (support.MAX_MESSAGE_LENGTH + 1)}, 400),
    ],
)
def test_a_report_that_cannot_be_taken_is_refused_with_400(driver, fields, status):
    with pytest.raises(Refused) as refused:
        support.report(driver, **fields)
    assert refused.value.status == status
    assert not SupportCase.objects.exists()


def test_a_connector_that_is_not_the_sessions_is_refused(driver, connector):
    session = session_of(driver, connector)
    with pytest.raises(Refused) as refused:
        support.report(
            driver,
            category=Category.OTHER,
            message="x",
            session=session,
            connector=second_connector(connector),
        )
    assert refused.value.status == 400


def test_supports_answer_is_emailed_to_the_driver_once_in_their_language(
    make_user, staff, mailoutbox
):
    driver = make_user(language="sv")
    case = support.report(driver, category=Category.CARD, message="Kortet fungerar inte")

    message = support.answer(case, "Vi skickar ett nytt kort.", by=staff)

    case.refresh_from_db()
    assert case.status == SupportCase.Status.ANSWERED
    assert (message.from_staff, message.author) == (True, staff)
    assert support.email_answer(message.pk) is None
    assert support.email_answer(message.pk) is None  # a retried task sends nothing more
    [mail] = mailoutbox
    assert mail.to == [driver.email]
    assert "Vi skickar ett nytt kort." in mail.body
    assert f"/account/support/{case.pk}/" in mail.body
    assert f"#{case.pk}" in mail.subject and "Svar" in mail.subject
    message.refresh_from_db()
    assert message.emailed_at is not None


def test_the_drivers_reply_opens_an_answered_case_again(driver, staff):
    case = support.report(driver, category=Category.OTHER, message="Help")
    support.answer(case, "What happened?", by=staff)

    support.add_driver_message(case, "It stopped at 40 %.")

    case.refresh_from_db()
    assert case.status == SupportCase.Status.OPEN
    assert [m.body for m in case.messages.all()] == [
        "Help",
        "What happened?",
        "It stopped at 40 %.",
    ]


def test_a_payment_case_is_refunded_by_a_credit_note_once(driver, staff):
    session = paid_from_wallet(driver, staff)
    case = support.report(
        driver, category=Category.PAYMENT, message="Charged twice", session=session
    )
    assert wallet_balance(driver) == Decimal("87.50")

    note = support.refund(case, reason="Charged twice", by=staff)

    assert (note.kind, note.corrects, note.gross) == (
        Invoice.Kind.CREDIT_NOTE,
        session.charge.document,
        Decimal("-12.50"),
    )
    assert note.refund_reference.startswith("wallet:")
    assert wallet_balance(driver) == Decimal("100.00")
    case.refresh_from_db()
    assert case.credit_note == note
    with pytest.raises(support.CannotRefund, match="already refunded"):
        support.refund(case, reason="Again", by=staff)
    assert Invoice.objects.filter(kind=Invoice.Kind.CREDIT_NOTE).count() == 1


def test_only_a_payment_case_with_a_priced_session_is_refunded(driver, staff, connector):
    about_a_charger = support.report(
        driver, category=Category.CHARGER_BROKEN, message="x", connector=connector
    )
    without_session = support.report(driver, category=Category.PAYMENT, message="x")

    with pytest.raises(support.CannotRefund):
        support.refund(about_a_charger, reason="x", by=staff)
    with pytest.raises(support.CannotRefund):
        support.refund(without_session, reason="x", by=staff)

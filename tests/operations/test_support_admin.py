"""Support cases in admin (operations/admin.py SupportCaseAdmin): support answers on the
case's page (emailed to the driver, shown in their portal), finance refunds a payment
case in one action; each role sees what users/roles.py gives it."""

from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from billing.models import Invoice
from billing.wallet import wallet_balance
from operations import support
from operations.models import SupportCase, SupportMessage
from tests.operations.support_data import paid_from_wallet
from users import roles
from users.models import User

pytestmark = pytest.mark.django_db
CHANGELIST = "admin:operations_supportcase_changelist"


@pytest.fixture
def staff_in():
    """A logged-in member of staff with one role (users/roles.py), and their browser."""
    call_command("setup_roles", stdout=StringIO())

    def make(role: roles.Role) -> Client:
        user = User.objects.create_user(f"{role.name.lower()}@example.com", "x", is_staff=True)
        user.groups.add(Group.objects.get(name=role.name))
        client = Client()
        client.force_login(user)
        return client

    return make


@pytest.fixture
def staff(make_user):
    return make_user(is_staff=True)


def change_url(case: SupportCase) -> str:
    return reverse("admin:operations_supportcase_change", args=[case.pk])


def refund(client: Client, case: SupportCase, reason: str | None = None):
    data = {"action": "refund_cases", "_selected_action": [case.pk]}
    if reason is not None:
        data |= {"post": "yes", "reason": reason}
    return client.post(reverse(CHANGELIST), data)


def test_support_lists_cases_and_answers_one_the_driver_gets_it_by_email_and_in_the_portal(
    staff_in, driver, driver_client, django_capture_on_commit_callbacks, mailoutbox
):
    case = support.report(driver, category="card", message="My card is not accepted")
    support_staff = staff_in(roles.SUPPORT)
    listing = support_staff.get(reverse(CHANGELIST))
    assert listing.status_code == 200
    assert driver.email in listing.content.decode()
    page = support_staff.get(change_url(case))
    assert "My card is not accepted" in page.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        answered = support_staff.post(
            change_url(case), {"status": "open", "reply": "We have unblocked it."}
        )

    assert answered.status_code == 302
    case.refresh_from_db()
    assert case.status == SupportCase.Status.ANSWERED
    staff_message = SupportMessage.objects.get(from_staff=True)
    assert staff_message.body == "We have unblocked it."
    assert staff_message.emailed_at is not None
    [mail] = mailoutbox
    assert mail.to == [driver.email] and "We have unblocked it." in mail.body
    portal = driver_client.get(reverse("portal:support"))
    assert "We have unblocked it." in portal.content.decode()


def test_saving_without_an_answer_sends_nothing(staff_in, driver, mailoutbox):
    case = support.report(driver, category="other", message="Question")
    response = staff_in(roles.SUPPORT).post(change_url(case), {"status": "closed", "reply": ""})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.status == SupportCase.Status.CLOSED
    assert not SupportMessage.objects.filter(from_staff=True).exists()
    assert mailoutbox == []


def test_finance_refunds_a_payment_case_in_one_action_with_a_credit_note(
    staff_in, driver, staff, django_capture_on_commit_callbacks, mailoutbox
):
    session = paid_from_wallet(driver, staff)
    case = support.report(driver, category="payment", message="Charged twice", session=session)
    finance = staff_in(roles.FINANCE)
    asked = refund(finance, case)
    assert asked.status_code == 200  # the page asking why
    assert "12.50" in asked.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        done = refund(finance, case, reason="Charged twice")

    assert done.status_code == 302
    note = Invoice.objects.get(kind=Invoice.Kind.CREDIT_NOTE)
    assert (note.corrects, note.gross, note.note) == (
        session.charge.document,
        Decimal("-12.50"),
        "Charged twice",
    )
    case.refresh_from_db()
    assert case.credit_note == note
    assert wallet_balance(driver) == Decimal("100.00")
    # The driver gets the credit note by email (billing.tasks.email_document).
    assert mailoutbox[-1].attachments[0][0] == f"{note.display_number}.pdf"
    assert mailoutbox[-1].to == [driver.email]
    # A second refund of the same case is refused, not paid twice.
    refund(finance, case, reason="Again")
    assert Invoice.objects.filter(kind=Invoice.Kind.CREDIT_NOTE).count() == 1


def test_support_may_not_refund(staff_in, driver, staff):
    session = paid_from_wallet(driver, staff)
    case = support.report(driver, category="payment", message="Charged twice", session=session)
    support_staff = staff_in(roles.SUPPORT)
    page = support_staff.get(reverse(CHANGELIST))
    assert page.context["action_form"] is None  # no action offered at all
    refund(support_staff, case, reason="Goodwill")
    assert not Invoice.objects.filter(kind=Invoice.Kind.CREDIT_NOTE).exists()


def test_a_technician_sees_no_support_cases(staff_in, driver):
    case = support.report(driver, category="other", message="Private")
    technician = staff_in(roles.TECHNICIAN)
    assert technician.get(reverse(CHANGELIST)).status_code == 403
    assert technician.get(change_url(case)).status_code == 403


def test_a_payment_cases_page_offers_refund_to_finance_only(staff_in, driver, staff):
    session = paid_from_wallet(driver, staff)
    case = support.report(driver, category="payment", message="Charged twice", session=session)
    button = 'name="action" value="refund_cases"'

    finance_page = staff_in(roles.FINANCE).get(change_url(case)).content.decode()
    support_page = staff_in(roles.SUPPORT).get(change_url(case)).content.decode()

    assert button in finance_page
    assert "12.50" in finance_page  # the session's charge, linked
    assert button not in support_page

"""Staff who chose the daily digest (Preferences.staff_digest) get the non-ticket staff
alerts in it (a payer blocked to Finance, a webhook endpoint disabled to its owner),
once, with the ticket alerts of their sites; the others are emailed at once, as before
(notifications/digest.py, operations/alerts.py send_digests)."""

import pytest
from django.contrib.auth.models import Group

from billing.models import BillingAccount
from billing.signals import payer_blocked
from notifications import outbox, webhooks
from notifications.models import DigestItem, OutboxMessage, Preferences
from operations import alerts
from operations import tasks as operations_tasks
from operations.models import SiteTechnician, Ticket
from operations.tickets import raise_fault
from tests.notifications.test_webhooks import status_change
from tests.portal.places import first_connector, place
from users.models import User
from users.roles import FINANCE

pytestmark = pytest.mark.django_db


def finance_member(make_user, *, digest: bool) -> User:
    member = make_user(is_staff=True, language="en")
    member.groups.add(Group.objects.get_or_create(name=FINANCE.name)[0])
    if digest:
        Preferences.objects.create(user=member, staff_digest=True)
    return member


def digests_to(user: User) -> list[OutboxMessage]:
    return list(OutboxMessage.objects.filter(recipient=user, kind="ticket_digest"))


def test_a_blocked_payer_is_in_the_digest_of_finance_staff_who_chose_it_once(
    make_user, driver, mailoutbox, django_capture_on_commit_callbacks
):
    later = finance_member(make_user, digest=True)
    now = finance_member(make_user, digest=False)
    account = BillingAccount.objects.create(
        user=driver, payment_method=BillingAccount.PaymentMethod.CARD
    )

    for _ in range(2):  # billing's event twice (a retried task): held once
        with django_capture_on_commit_callbacks(execute=True):
            payer_blocked.send(sender=BillingAccount, account=account)

    assert [mail.to for mail in mailoutbox] == [[now.email]]  # at once, as before
    assert DigestItem.objects.filter(user=later, sent_at=None).count() == 1

    assert alerts.send_digests() == 1  # the daily beat task
    assert alerts.send_digests() == 0  # and again: nothing new

    [digest] = digests_to(later)
    assert digest.state == OutboxMessage.State.SENT
    mail = mailoutbox[-1]
    assert mail.to == [later.email] and len(mailoutbox) == 2
    assert mail.subject == "ChargeHub: 1 alert(s) today"
    assert f"Payments failing: {account} is blocked" in mail.body
    assert "Other staff alerts since the last digest:" in mail.body
    assert digests_to(now) == []


def test_a_disabled_webhook_goes_into_its_owners_digest_with_their_ticket_alerts(
    receiver, admin_user, settings, mailoutbox, django_capture_on_commit_callbacks
):
    settings.WEBHOOKS_DISABLE_AFTER_FAILURES = 1
    User.objects.filter(pk=admin_user.pk).update(language="en")
    Preferences.objects.create(user=admin_user, staff_digest=True)
    receiver.status = 500
    endpoint = webhooks.create_endpoint(admin_user, receiver.url)
    connector = first_connector(place("Digest"))
    site = connector.charge_point.site
    SiteTechnician.objects.create(site=site, user=admin_user, digest=True)

    status_change(connector, "Charging", django_capture_on_commit_callbacks)
    endpoint.refresh_from_db()
    assert not endpoint.enabled
    raise_fault(Ticket.Kind.FAULTED, title="Cable damaged", charge_point=connector.charge_point)
    operations_tasks.sweep()  # the ticket's opening alert, held for the digest
    assert [mail.to for mail in mailoutbox] == []  # both wait for the digest

    assert alerts.send_digests() == 1
    assert alerts.send_digests() == 0
    outbox.deliver_pending()

    [mail] = mailoutbox
    assert mail.subject == "ChargeHub: 2 alert(s) today"
    assert "Cable damaged" in mail.body
    assert f"Webhook disabled: {endpoint.url}" in mail.body
    assert "failed 1 times in a row" in mail.body
    assert len(digests_to(admin_user)) == 1


def test_without_the_digest_a_disabled_webhook_is_emailed_at_once(
    receiver, admin_user, settings, mailoutbox, django_capture_on_commit_callbacks
):
    settings.WEBHOOKS_DISABLE_AFTER_FAILURES = 1
    User.objects.filter(pk=admin_user.pk).update(language="en")
    receiver.status = 500
    webhooks.create_endpoint(admin_user, receiver.url)
    connector = first_connector(place("Direct"))

    status_change(connector, "Charging", django_capture_on_commit_callbacks)

    [mail] = mailoutbox
    assert mail.subject.startswith("Webhook disabled: ")
    assert DigestItem.objects.count() == 0
    assert alerts.send_digests() == 0
    assert len(mailoutbox) == 1

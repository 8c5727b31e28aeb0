"""Billing's emails (receipts, invoices, payment failures) are written to the outbox in
billing's own transaction and leave only after it commits (notifications/receivers.py):
a change that rolls back sends nothing."""

import pytest
from django.db import transaction

from billing import documents, invoicing
from billing.models import Invoice
from notifications.models import OutboxMessage
from tests.billing.invoicing_data import driver_account, paid


class Rollback(Exception):
    pass


def test_a_receipt_emailed_in_a_transaction_that_rolls_back_sends_nothing(
    transactional_db, make_user, mailoutbox
):
    charge = paid(driver_account(make_user(email="anna@example.com")))

    with pytest.raises(Rollback), transaction.atomic():
        receipt = invoicing.issue_receipt(charge)
        assert documents.email_if_not_sent(receipt.pk) is True  # written to the outbox
        raise Rollback  # the caller's change fails after the email was written

    assert mailoutbox == []
    assert not OutboxMessage.objects.exists()
    assert not Invoice.objects.exists()


def test_a_receipt_email_leaves_once_its_transaction_commits(
    transactional_db, make_user, mailoutbox
):
    charge = paid(driver_account(make_user(email="anna@example.com")))

    with transaction.atomic():
        receipt = invoicing.issue_receipt(charge)
        assert documents.email_if_not_sent(receipt.pk) is True
        assert mailoutbox == []  # written, not sent: the change may still roll back
        [message] = OutboxMessage.objects.filter(kind="receipt")
        assert message.state == OutboxMessage.State.PENDING

    assert [mail.to for mail in mailoutbox] == [["anna@example.com"]]
    message.refresh_from_db()
    assert message.state == OutboxMessage.State.SENT

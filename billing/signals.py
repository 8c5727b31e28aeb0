"""Emails billing has written and wants sent: notifications listens (its outbox sends
them), so billing never imports notifications.

`email_ready` is sent in the caller's transaction with the email as written in the
buyer's language; a listener answers True when the email will leave, which it does only
once that transaction commits (rolled back, nothing is sent). Arguments:
`kind` ("receipt", "invoice", "credit_note", "payment_failed"), `user` (the driver, or
None for a guest or a fleet), `to`, `language`, `subject`, `body`, `reply_to` (a list),
`document` (the id of the Invoice whose PDF is attached, or None), `key` (the same key
for the same email: a retried task sends it once) and `may_decline` (a receipt the
driver may have turned off).

`session_priced` (sender=SessionCharge, charge=...): a finished session's price was frozen
(billing/settlement.py freeze_price). `wallet_low` (sender=WalletEntry, entry=...,
balance=...): a debit took the driver's wallet below BILLING_WALLET_LOW_BALANCE. Both are
sent after commit (stations.signals.announce), so a listener never sees a rolled-back
change.
"""

from django.dispatch import Signal

email_ready = Signal()
session_priced = Signal()
wallet_low = Signal()
# sender=BillingAccount, account=...: a declined card payment was the one that blocks
# the payer (BILLING_BLOCK_AFTER_FAILED_PAYMENTS); staff hear it. After commit.
payer_blocked = Signal()


def send_email(**email: object) -> bool:
    """Hand a written email to the listeners; True when one of them will send it."""
    return any(answer is True for _receiver, answer in email_ready.send(sender=None, **email))

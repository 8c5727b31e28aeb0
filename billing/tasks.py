"""Celery tasks of the billing app: thin wrappers; the rules live in their modules.

Scheduled in chargehub/celery.py (beat_schedule).
"""

import logging

from celery import shared_task

from billing import documents, guest, invoicing, settlement, spot_prices
from billing.models import SessionCharge

logger = logging.getLogger(__name__)


@shared_task
def settle_session(session_id: int) -> None:
    """One session: kept for the tasks an earlier release left queued (a deploy), and
    for callers that settle one session; the receiver sends settle_sessions."""
    _settle(session_id)


@shared_task
def settle_sessions(session_ids: list[int]) -> None:
    """The sessions ended within a short while in one process (billing/settlement_batches.py),
    each settled in its own transactions: one that fails is logged and left to
    settle_missed_sessions, the others are settled. Settling is idempotent, so a session
    also settled by the sweep, or by a repeated task, is charged once."""
    for session_id in session_ids:
        try:
            _settle(session_id)
        except Exception:
            logger.exception("Could not settle session %s", session_id)


def _settle(session_id: int) -> None:
    charge = settlement.settle_session(session_id)
    if charge is not None:
        logger.info("Session %s settled: %s", session_id, charge.get_status_display())


@shared_task
def collect_charge(charge_id: int) -> None:
    """Collect a charge priced outside a session's settlement (a booking's no-show fee,
    billing/no_show.py)."""
    charge = settlement.collect(SessionCharge.objects.get(pk=charge_id))
    logger.info("Charge %s collected: %s", charge_id, charge.get_status_display())


@shared_task
def retry_failed_payments() -> int:
    count = settlement.retry_failed_payments()
    logger.info("retry_failed_payments: %d payment(s) tried again", count)
    return count


@shared_task
def settle_missed_sessions() -> int:
    count = settlement.settle_missed_sessions()
    logger.info("settle_missed_sessions: %d session(s) settled", count)
    return count


@shared_task
def issue_monthly_invoices() -> int:
    """Last month's invoices (billing/invoicing.py run_month), then an email for each one."""
    run = invoicing.run_month()
    for invoice_id in run.to_email:
        email_document.delay(invoice_id)
    logger.info(
        "issue_monthly_invoices: %d invoice(s) issued for %s", len(run.issued), run.period_start
    )
    return len(run.issued)


# The document is emailed at most once (documents.email_if_not_sent); a mail server
# that is down is notifications' outbox's to try again, not this task's.
@shared_task
def email_document(invoice_id: int) -> bool:
    return documents.email_if_not_sent(invoice_id)


@shared_task
def stop_guest_sessions_nearing_their_hold() -> int:
    asked = guest.stop_sessions_nearing_their_hold()
    logger.info("stop_guest_sessions_nearing_their_hold: %d stop(s) sent", asked)
    return asked


@shared_task
def release_abandoned_guest_holds() -> int:
    released = guest.release_abandoned_holds()
    logger.info("release_abandoned_guest_holds: %d hold(s) released", released)
    return released


@shared_task
def fetch_spot_prices() -> int:
    """The spot price series from SPOT_PRICE_URL; a bad answer is logged and changes
    nothing (the next hour tries again)."""
    try:
        stored = spot_prices.fetch()
    except (OSError, spot_prices.SpotPriceError) as error:
        logger.warning("fetch_spot_prices: %s", error)
        return 0
    logger.info("fetch_spot_prices: %d hour(s) stored", stored)
    return stored

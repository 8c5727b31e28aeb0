"""Driver support: a driver reports a problem, support staff answer, money goes back.

The portal (/account/support/) and the API (/api/v1/me/support-cases/) call the same
functions here, so a report is checked and linked the same way at every door:

- A report names what it is about: a connector, one of the driver's own sessions (another
  driver's is not found: 404, charging/refusals.py), or only the station.
- A report about a charger (it names a connector or a session) that is not about money
  becomes evidence on a ticket (operations/tickets.py): the open ticket of that connector
  or charger if there is one, else a new "Reported by a driver" ticket. A payment case is
  about money, not the charger: it links to the session's charge instead.
- Support's answer is emailed to the driver in their language, always (a driver who
  asked a question wants the answer, whatever their notification preferences), and the
  case is then "answered"; the driver's own reply opens it again.
- A payment case's refund is a credit note of the session's charge, then the money back
  the way it was paid (billing/invoicing.py, billing/refunds.py), once per case.
"""

import logging
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Prefetch, QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from billing import invoicing, refunds
from billing.models import Invoice
from charging import start_stop
from charging.refusals import Refused
from notifications import events, outbox
from operations import tickets
from operations.models import SupportCase, SupportMessage, Ticket
from stations.finder import PUBLIC_CONNECTOR
from stations.models import ChargingSession, Connector, Site
from users.models import User

logger = logging.getLogger(__name__)

# The longest message a driver or support may write: a report, not a document.
MAX_MESSAGE_LENGTH = 5000


def reportable_connectors() -> QuerySet[Connector]:
    """Connectors a driver may name in a report: the ones they can see and use."""
    return Connector.objects.filter(PUBLIC_CONNECTOR).select_related("charge_point__site")


def cases_of(driver: User) -> QuerySet[SupportCase]:
    """The driver's cases, newest first, each with its messages in order."""
    return (
        SupportCase.objects.filter(driver=driver)
        .select_related("site", "charge_point", "connector", "session")
        .prefetch_related(
            Prefetch("messages", queryset=SupportMessage.objects.order_by("created_at", "id"))
        )
    )


def own_session(driver: User, session_id: int) -> ChargingSession:
    """One of the driver's sessions; another driver's, or none, is not found (404)."""
    session = start_stop.sessions_of(driver).filter(pk=session_id).first()
    if session is None:
        raise Refused(_("You have no session %(id)s.") % {"id": session_id}, status=404)
    return session


def own_case(driver: User, case_id: int) -> SupportCase:
    """One of the driver's cases; another driver's, or none, is not found (404)."""
    case = cases_of(driver).filter(pk=case_id).first()
    if case is None:
        raise Refused(_("You have no support case %(id)s.") % {"id": case_id}, status=404)
    return case


def _clean_message(body: str) -> str:
    body = (body or "").strip()
    if not body:
        raise Refused(_("Write what happened."), status=400)
    if len(body) > MAX_MESSAGE_LENGTH:
        raise Refused(
            _("Keep the message under %(limit)d characters.") % {"limit": MAX_MESSAGE_LENGTH},
            status=400,
        )
    return body


def report(
    driver: User,
    *,
    category: str,
    message: str,
    connector: Connector | None = None,
    session: ChargingSession | None = None,
    site: Site | None = None,
    at: datetime | None = None,
) -> SupportCase:
    """Open a support case with the driver's first message; link it to a ticket when it
    is about a charger. Raises Refused: 400 for a report that cannot be taken, 404 for
    a session that is not the driver's.

    `session` must be the driver's own (see `own_session`); `connector`, if given with a
    session, must be the session's.
    """
    if category not in SupportCase.Category.values:
        raise Refused(_("Choose what the problem is about."), status=400)
    body = _clean_message(message)
    if session is not None and not start_stop.sessions_of(driver).filter(pk=session.pk).exists():
        raise Refused(_("You have no session %(id)s.") % {"id": session.pk}, status=404)
    if session is not None and connector is not None and connector.pk != session.connector_id:
        raise Refused(
            _("Session %(session)s was not at this connector.") % {"session": session.pk},
            status=400,
        )
    if connector is not None and not reportable_connectors().filter(pk=connector.pk).exists():
        raise Refused(_("Unknown connector."), status=400)
    connector = connector or (session.connector if session is not None else None)
    charge_point = connector.charge_point if connector is not None else None
    at = at or timezone.now()
    with transaction.atomic():
        case = SupportCase.objects.create(
            driver=driver,
            category=category,
            message=body,
            # The charger's own site; the station the driver came from when none is named.
            site=charge_point.site if charge_point is not None else site,
            charge_point=charge_point,
            connector=connector,
            session=session,
            created_at=at,
        )
        SupportMessage.objects.create(case=case, author=driver, body=body, created_at=at)
        if charge_point is not None and category != SupportCase.Category.PAYMENT:
            case.ticket = _ticket_for(case, at)
            case.save(update_fields=["ticket"])
    return case


def _ticket_for(case: SupportCase, at: datetime) -> Ticket:
    """The open ticket on the case's connector or charger, joined; else a new one."""
    evidence = {
        "support_case": case.pk,
        "category": case.category,
        "connector": case.connector.connector_id if case.connector else None,
        "session": case.session_id,
    }
    # Ticket texts are read by staff: in the site's language, not the driver's.
    with translation.override(settings.LANGUAGE_CODE):
        text = _("Support case #%(case)s (%(category)s): %(message)s") % {
            "case": case.pk,
            "category": case.get_category_display(),
            "message": case.message,
        }
        title = _("Driver reports a problem at %(charger)s") % {
            "charger": case.charge_point.charge_point_id
        }
    ticket = tickets.open_ticket_on(case.charge_point, case.connector)
    if ticket is not None:
        return tickets.join(ticket, text, evidence, at)
    ticket, _created = tickets.raise_fault(
        Ticket.Kind.DRIVER_REPORT,
        title=title,
        charge_point=case.charge_point,
        connector=case.connector,
        evidence=evidence,
        text=text,
        at=at,
    )
    return ticket


def add_driver_message(case: SupportCase, body: str) -> SupportMessage:
    """The driver writes again in their case (from `own_case`): it waits for support again."""
    message = SupportMessage.objects.create(
        case=case, author=case.driver, body=_clean_message(body)
    )
    SupportCase.objects.filter(pk=case.pk).update(
        status=SupportCase.Status.OPEN, updated_at=timezone.now()
    )
    return message


def answer(case: SupportCase, body: str, *, by: User) -> SupportMessage:
    """Support answers: the message is kept and the case is answered. The caller queues
    operations.tasks.email_support_answer after commit (the door queues the tasks, as
    billing's admin does; the task calls `email_answer` here)."""
    message = SupportMessage.objects.create(
        case=case, author=by, from_staff=True, body=_clean_message(body)
    )
    SupportCase.objects.filter(pk=case.pk).update(
        status=SupportCase.Status.ANSWERED, updated_at=timezone.now()
    )
    return message


def email_answer(message_id: int) -> str | None:
    """Email support's answer to the driver, once, through the outbox; None when sent
    now or before, else what went wrong (the outbox tries again later)."""
    message = (
        SupportMessage.objects.select_related("case__driver")
        .filter(pk=message_id, from_staff=True)
        .first()
    )
    if message is None or message.emailed_at is not None:
        return None
    driver = message.case.driver
    with translation.override(driver.language):
        subject = _("Answer to your support case #%(case)s") % {"case": message.case_id}
        body = render_to_string(
            "operations/email/support_answer.txt",
            {
                "message": message,
                "case": message.case,
                # The public address of the portal (emails need an absolute one).
                "url": settings.BILLING_PUBLIC_URL
                + reverse("portal:support-case", args=[message.case_id]),
            },
        )
    with transaction.atomic():
        # An answer the driver asked for: transactional, no unsubscribe. emailed_at
        # says it is in the outbox, which delivers it and tries again.
        key = f"support-answer:{message.pk}"
        queued = events.email("support_answer", driver, subject, body, key=key)
        path = reverse("portal:support-case", args=[message.case_id])
        listed = events.in_portal("support_answer", driver, subject, "", path, key=key)
        SupportMessage.objects.filter(pk=message.pk, emailed_at=None).update(
            emailed_at=timezone.now()
        )
    events.deliver_now([listed])
    return outbox.deliver(queued.pk) if queued is not None else None


class CannotRefund(ValueError):
    """A case whose money cannot be given back from here; str() is for staff."""


def refund(case: SupportCase, *, reason: str, by: User | None) -> Invoice:
    """Credit the session's charge of a payment case and pay it back; the credit note.

    The credit note (billing/invoicing.py) is issued and kept on the case in one
    transaction, so a case is refunded once; the money then goes back the way it was
    paid (billing/refunds.py pay_back). If that fails (Stripe unreachable), the credit
    note stays and is paid back later from the invoice admin; RefundError says why.
    Only the session's own amount is credited, also from a monthly invoice of many.
    """
    with transaction.atomic():
        case = SupportCase.objects.select_for_update().get(pk=case.pk)
        if case.category != SupportCase.Category.PAYMENT:
            raise CannotRefund(_("Only a payment case is refunded from here."))
        if case.credit_note_id is not None:
            raise CannotRefund(
                _("Case #%(case)s is already refunded (%(note)s).")
                % {"case": case.pk, "note": case.credit_note.display_number}
            )
        charge = case.charge
        if charge is None or charge.document is None or charge.gross <= 0:
            raise CannotRefund(
                _("Case #%(case)s names no session that was paid or invoiced.") % {"case": case.pk}
            )
        note = invoicing.issue_credit_note(
            charge.document, gross=charge.gross, reason=reason, issued_by=by
        )
        case.credit_note = note
        case.save(update_fields=["credit_note", "updated_at"])
    return refunds.pay_back(note)

"""Which of a charger's troubles are faults, their evidence, and when they are over.

Each rule is here once and two doors use it: the receivers (operations/receivers.py) as
stations reports things, and the sweep (`sweep`, a beat task) that re-derives the same
from the current state, so a receiver that failed or a worker that died loses nothing.
Tickets are opened and resolved through operations/tickets.py only.

What a fault is, per kind:
- faulted: a StatusNotification with status Faulted (OCPP 1.6 §4.9: "not available for
  energy delivery"), whatever its errorCode. A non-Faulted status with an errorCode other
  than NoError is a warning the charger still works through (§4.9 lets a charger report an
  error while Available or Charging, e.g. HighTemperature while it derates): it is kept in
  the status history, not ticketed. The connector works again once its status is one a
  working connector has (`WORKING`): Available, Preparing, Charging, the two Suspended
  states, Finishing or Reserved. Unavailable (set by staff or a maintenance window) and
  Unknown say nothing either way and leave the ticket as it is.
- offline: not connected for OPERATIONS_OFFLINE_ALERT_AFTER (the sweep), none of that
  time in a maintenance window of the charger or its site (staff switch chargers off for
  it: the time counts from the window's end); over once the charger connects.
- stuck session: an active session on a Charging connector with no meter values for
  OPERATIONS_STUCK_SESSION_AFTER (the sweep); over when values come again or it ends.
- repeated boots: REPEATED_BOOTS accepted BootNotifications within BOOT_WINDOW; over when
  the charger has stayed up a whole BOOT_WINDOW.
- remote start failed: RemoteStartTransaction answered Rejected, with a CALLERROR, or not
  in time; over at the next accepted remote start on that charger.
- security event: one of TICKETED_SECURITY_EVENTS; never over by itself (a person looks).
- site over its load limit: a changed draw measured by MeterValues puts a managed site's
  cars over its limit now on a phase (stations' `site_over_limit`); one ticket per site
  while open; never over by itself (a car ignoring its profile needs a person).
"""

import logging
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import DateTimeField, Max, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce, Greatest
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from operations import availability, tickets
from operations.models import ChargerBoot, Ticket, TicketEntry
from stations import bulk_insert
from stations.models import (
    ChargePoint,
    ChargerCommand,
    ChargingSession,
    Connector,
    MeterSample,
    OcppMessage,
    SecurityEvent,
    Site,
    StatusEvent,
)

logger = logging.getLogger(__name__)

Kind = Ticket.Kind

# Statuses of a connector that works (OCPP 1.6 §4.9 ChargePointStatus): one of these
# after Faulted means the fault is over.
WORKING = frozenset(
    {
        Connector.Status.AVAILABLE,
        Connector.Status.PREPARING,
        Connector.Status.CHARGING,
        Connector.Status.SUSPENDED_EV,
        Connector.Status.SUSPENDED_EVSE,
        Connector.Status.FINISHING,
        Connector.Status.RESERVED,
    }
)

# The security events someone must look at (OCPP 1.6 security whitepaper ed. 3,
# Appendix 1). Its "critical" column says which events a charger pushes at all (every
# one it pushes is stored: stations.SecurityEvent); this set is narrower: the ones that
# mean tampering, a firmware or certificate that cannot be trusted, a charger running out
# of memory, or the evidence being wiped. Startups, resets, clock changes and failed
# logins are routine and only stored.
TICKETED_SECURITY_EVENTS = frozenset(
    {
        "TamperDetectionActivated",
        "InvalidFirmwareSignature",
        "InvalidFirmwareSigningCertificate",
        "InvalidCentralSystemCertificate",
        "InvalidChargePointCertificate",
        "MemoryExhaustion",
        "SecurityLogWasCleared",
        "AttemptedReplayAttacks",
    }
)

REPEATED_BOOTS = 3
BOOT_WINDOW = timedelta(hours=1)
# How far back the sweep looks for security events and failed remote starts no ticket has.
LOOKBACK = timedelta(days=1)
# Evidence: this much of the connector's status history and of the charger's message log.
STATUS_HISTORY = 10
LAST_MESSAGES = 20
MESSAGE_CHARACTERS = 2000


def _when(at: datetime) -> str:
    return formats.date_format(timezone.localtime(at), "DATETIME_FORMAT")


# --- Evidence --------------------------------------------------------------------------------


def _status_history(connector: Connector) -> list[dict[str, Any]]:
    events = StatusEvent.objects.filter(connector=connector)[:STATUS_HISTORY]
    return [
        {
            "status": event.status,
            "error_code": event.error_code,
            "info": event.info,
            "vendor_id": event.vendor_id,
            "vendor_error_code": event.vendor_error_code,
            "timestamp": event.timestamp.isoformat(),
        }
        for event in events
    ]


def _last_messages(charge_point: ChargePoint) -> list[dict[str, Any]]:
    """The charger's last frames as far as the message log holds them (it writes in
    batches every half second: the very last frames may not be there yet)."""
    messages = OcppMessage.objects.filter(charge_point_id=charge_point.charge_point_id)
    return [
        {
            "at": message.created_at.isoformat(),
            "direction": message.direction,
            "action": message.action,
            "frame": message.frame[:MESSAGE_CHARACTERS],
        }
        for message in messages[:LAST_MESSAGES]
    ]


def _fault_evidence(connector: Connector, event: StatusEvent | None) -> dict[str, Any]:
    source: Any = event or connector
    return {
        "status": source.status,
        "error_code": source.error_code,
        "info": source.info,
        "vendor_id": source.vendor_id,
        "vendor_error_code": source.vendor_error_code,
        "status_history": _status_history(connector),
        "last_messages": _last_messages(connector.charge_point),
    }


# --- Faulted connectors -------------------------------------------------------------------


def is_fault(status: str) -> bool:
    return status == Connector.Status.FAULTED


def connector_faulted(
    connector: Connector, event: StatusEvent | None = None, at: datetime | None = None
) -> tuple[Ticket, bool]:
    """Open (or join) the faulted ticket of this connector, with the evidence."""
    source: Any = event or connector
    title = _("%(connector)s faulted: %(code)s") % {
        "connector": connector,
        "code": source.error_code,
    }
    if source.vendor_error_code:
        title += f" ({source.vendor_error_code})"
    return tickets.raise_fault(
        Kind.FAULTED,
        title=title[:200],
        charge_point=connector.charge_point,
        connector=connector,
        evidence=_fault_evidence(connector, event),
        at=at or (event.received_at if event else timezone.now()),
    )


def status_received(
    connector: Connector, event: StatusEvent, previous_status: str | None = None
) -> Ticket | None:
    """A StatusNotification: open or join the fault's ticket, or resolve it.

    `previous_status`: the connector's status before it. A working connector that still
    works has no fault ticket to resolve, and no query is made for one: a ticket left
    open by a lost event (or reopened by staff) is resolved by the sweep.
    """
    if is_fault(event.status):
        return connector_faulted(connector, event)[0]
    if event.status in WORKING and previous_status not in WORKING:
        reason = _("Connector %(status)s again at %(at)s.") % {
            "status": Connector.Status(event.status).label,
            "at": _when(event.received_at),
        }
        return tickets.resolve_fault(
            Kind.FAULTED, connector.charge_point, connector, reason, at=event.received_at
        )
    return None


# --- Offline chargers ------------------------------------------------------------------------


def charger_online(charge_point: ChargePoint, at: datetime) -> Ticket | None:
    reason = _("Charger online again at %(at)s.") % {"at": _when(at)}
    return tickets.resolve_fault(Kind.OFFLINE, charge_point, None, reason, at=at)


def charger_offline(charge_point: ChargePoint, now: datetime) -> tuple[Ticket, bool]:
    since = charge_point.disconnected_at or now
    evidence = {
        "disconnected_at": since.isoformat(),
        "last_seen_at": charge_point.last_seen_at.isoformat()
        if charge_point.last_seen_at
        else None,
        "last_messages": _last_messages(charge_point),
    }
    title = _("%(charger)s offline since %(at)s") % {"charger": charge_point, "at": _when(since)}
    return tickets.raise_fault(
        Kind.OFFLINE, title=title[:200], charge_point=charge_point, evidence=evidence, at=now
    )


# --- Stuck sessions ----------------------------------------------------------------------------


def _stuck_sessions(now: datetime) -> Any:
    """Active sessions on a Charging connector with no meter values for the stuck time,
    counted in server time (a charger's clock may be wrong)."""
    last_sample = (
        MeterSample.objects.filter(session=OuterRef("pk"))
        .order_by()
        .values("session")
        .annotate(at=Max("received_at"))
        .values("at")
    )
    cutoff = now - timedelta(seconds=settings.OPERATIONS_STUCK_SESSION_AFTER)
    return (
        ChargingSession.objects.filter(
            status=ChargingSession.Status.ACTIVE, connector__status=Connector.Status.CHARGING
        )
        .annotate(
            last_word=Greatest(
                "created_at",
                Coalesce(Subquery(last_sample, output_field=DateTimeField()), "created_at"),
            )
        )
        .filter(last_word__lt=cutoff)
        .select_related("connector__charge_point__site")
    )


def session_stuck(session: ChargingSession, now: datetime) -> tuple[Ticket, bool]:
    title = _("Session %(id)s on %(connector)s stuck: no meter values") % {
        "id": session.pk,
        "connector": session.connector,
    }
    evidence = {
        "session": session.pk,
        "last_meter_values_at": getattr(session, "last_word", session.created_at).isoformat(),
        "last_messages": _last_messages(session.charge_point),
    }
    return tickets.raise_fault(
        Kind.STUCK_SESSION,
        title=title[:200],
        charge_point=session.connector.charge_point,
        connector=session.connector,
        evidence=evidence,
        at=now,
    )


# Sessions this process stored meter values of, and the latest receive time of those
# values. The sweep opens a stuck-session ticket only when a session's newest sample (or,
# without one, its creation) was received more than OPERATIONS_STUCK_SESSION_AFTER ago, so
# a session whose values were stored, or that was created, more recently than that has
# none to resolve (one opened by a sweep that raced them is resolved by the next sweep,
# which finds nothing stuck).
_values_heard: dict[int, datetime] = {}
_HEARD_KEPT = 20_000  # sessions remembered at most (then forgotten, as in VerifiedPasswords)


def forget_values_heard() -> None:
    """Forget when values came (tests: a rolled-back session's key is given out again)."""
    _values_heard.clear()


def values_came(
    session: ChargingSession, samples: list[MeterSample] | None = None
) -> Ticket | None:
    """Meter values (`samples`, the ones the call carried) came for the session: resolve its
    stuck-session ticket, asking the database only when the values this process stored
    before are older than the stuck time (or it stored none and the session is older than
    that: the sweep counts a session's silence from its creation too)."""
    now = timezone.now()
    after = timedelta(seconds=settings.OPERATIONS_STUCK_SESSION_AFTER)
    received = max((sample.received_at for sample in samples or ()), default=None)
    heard = _values_heard.get(session.pk, session.created_at)
    if now - heard < after:
        if received is not None and received > heard:
            _values_heard[session.pk] = received
        return None
    if len(_values_heard) >= _HEARD_KEPT:
        # Forgetting only costs a query per session once; a scan for old entries on
        # every call would cost more whenever that many sessions are all recent.
        _values_heard.clear()
    ticket = session_moving(session, _("Meter values again."))
    if received is not None:
        _values_heard[session.pk] = received
    return ticket


def session_ended(session: ChargingSession) -> Ticket | None:
    """The session ended: resolve its stuck-session ticket, asking the database only when
    it could have one (its values or its creation are older than the stuck time here)."""
    heard = _values_heard.pop(session.pk, session.created_at)
    if timezone.now() - heard < timedelta(seconds=settings.OPERATIONS_STUCK_SESSION_AFTER):
        return None
    return session_moving(session, _("The session ended."))


def session_moving(session: ChargingSession, reason: str) -> Ticket | None:
    """Meter values came for the session, or it ended: its connector is not stuck.

    One indexed query when nothing is stuck (the usual case).
    """
    _values_heard.pop(session.pk, None)
    stuck = Ticket.objects.filter(
        kind=Kind.STUCK_SESSION, connector_id=session.connector_id, status__in=Ticket.OPEN_STATUSES
    ).first()
    if stuck is None:
        return None
    return stuck if tickets.resolve(stuck, reason) else None


# --- Repeated boots ----------------------------------------------------------------------------


def charger_booted(
    charge_point: ChargePoint, at: datetime, previous_boot_at: datetime | None
) -> Ticket | None:
    """Record the boot; the third within BOOT_WINDOW opens (later ones join) the ticket.
    `previous_boot_at` is the charger's boot before this one (None: never): one long ago
    leaves this boot alone in the window, with no query for the others (a storm's case)."""
    # Its INSERT built once: a storm's boots are thousands (#17's profile).
    bulk_insert.insert_one(ChargerBoot(charge_point=charge_point, at=at))
    # A boot is recorded a moment after its BootNotification's time: a minute's margin.
    if previous_boot_at is None or previous_boot_at < at - BOOT_WINDOW - timedelta(minutes=1):
        return None
    boots = list(
        ChargerBoot.objects.filter(charge_point=charge_point, at__gt=at - BOOT_WINDOW)
        .order_by("at")
        .values_list("at", flat=True)
    )
    if len(boots) < REPEATED_BOOTS:
        return None
    title = _("%(charger)s booted %(count)s times within an hour") % {
        "charger": charge_point,
        "count": len(boots),
    }
    evidence = {
        "boots": [boot.isoformat() for boot in boots],
        "firmware_version": charge_point.firmware_version,
        "last_messages": _last_messages(charge_point),
    }
    ticket, _created = tickets.raise_fault(
        Kind.REPEATED_BOOTS, title=title, charge_point=charge_point, evidence=evidence, at=at
    )
    return ticket


# --- Remote starts ----------------------------------------------------------------------------


def remote_start_failed(command: ChargerCommand) -> bool:
    """Rejected, a CALLERROR or no answer in time. Offline is the offline ticket's."""
    if command.action != "RemoteStartTransaction":
        return False
    if command.status in (ChargerCommand.Status.ERROR, ChargerCommand.Status.TIMEOUT):
        return True
    answer = command.response or {}
    return command.status == ChargerCommand.Status.ANSWERED and answer.get("status") == "Rejected"


def command_finished(command: ChargerCommand) -> tuple[Ticket | None, bool]:
    """A remote start's outcome: open (or join) a failure's ticket, or resolve it;
    (ticket, opened)."""
    if command.action != "RemoteStartTransaction":
        return None, False
    charge_point = command.charge_point
    if not remote_start_failed(command):
        if (command.response or {}).get("status") == "Accepted":
            reason = _("A remote start was accepted at %(at)s.") % {
                "at": _when(command.answered_at or timezone.now())
            }
            resolved = tickets.resolve_fault(Kind.REMOTE_START_FAILED, charge_point, None, reason)
            return resolved, False
        return None, False
    answer = command.error or (command.response or {}).get("status", "")
    title = _("Remote start on %(charger)s failed: %(answer)s") % {
        "charger": charge_point,
        "answer": answer or command.get_status_display(),
    }
    evidence = {
        "command": command.pk,
        "request": command.payload,
        "status": command.status,
        "answer": command.response,
        "error": command.error,
        "last_messages": _last_messages(charge_point),
    }
    return tickets.raise_fault(
        Kind.REMOTE_START_FAILED,
        title=title[:200],
        charge_point=charge_point,
        evidence=evidence,
        at=command.answered_at,
    )


# --- Security events ----------------------------------------------------------------------------


def security_event(event: SecurityEvent) -> tuple[Ticket | None, bool]:
    """Ticket a security event someone must look at, the others are only stored;
    (ticket, opened)."""
    if event.type not in TICKETED_SECURITY_EVENTS:
        return None, False
    title = _("Security event on %(charger)s: %(type)s") % {
        "charger": event.charge_point,
        "type": event.type,
    }
    evidence = {
        "security_event": event.pk,
        "type": event.type,
        "tech_info": event.tech_info,
        "timestamp": event.timestamp.isoformat(),
        "last_messages": _last_messages(event.charge_point),
    }
    return tickets.raise_fault(
        Kind.SECURITY_EVENT,
        title=title[:200],
        charge_point=event.charge_point,
        evidence=evidence,
        at=event.received_at,
    )


def site_over_limit(
    site: Site, load: dict[int, Decimal], limit_amps: Decimal, at: datetime | None = None
) -> tuple[Ticket, bool]:
    """Ticket a site whose cars draw more than its limit; (ticket, opened). Measured again
    over while open, it joins the same ticket: the site's technicians are told once."""
    drawn = ", ".join(f"L{phase} {amps} A" for phase, amps in sorted(load.items()))
    title = _("%(site)s draws more than its limit") % {"site": site.name}
    text = _("The cars draw %(load)s; the limit is %(limit)s A per phase.") % {
        "load": drawn,
        "limit": limit_amps,
    }
    return tickets.raise_fault(
        Kind.SITE_OVER_LIMIT,
        title=title[:200],
        site=site,
        evidence={"load": {str(p): str(a) for p, a in load.items()}, "limit_amps": str(limit_amps)},
        text=text,
        at=at,
        key=f"{Kind.SITE_OVER_LIMIT}:site:{site.pk}",
    )


# --- The sweep ---------------------------------------------------------------------------------


def sweep(now: datetime | None = None) -> dict[str, int]:
    """Re-derive open tickets from the current state and resolve those whose cause is gone.

    What the receivers would have done had every event reached them: faulted connectors,
    offline chargers and stuck sessions without an open ticket get one; security events and
    failed remote starts of the last day without a ticket get one; open tickets whose
    cause is gone are resolved. Returns how many it opened and resolved.
    """
    now = now or timezone.now()
    opened = resolved = 0

    # Faulted connectors.
    faulted = Connector.objects.filter(
        status=Connector.Status.FAULTED, charge_point__registration_status="Accepted"
    ).select_related("charge_point__site")
    for connector in faulted:
        if tickets.open_ticket(Kind.FAULTED, connector.charge_point, connector) is None:
            opened += connector_faulted(connector, at=now)[1]
    for ticket in _open(Kind.FAULTED).filter(connector__status__in=WORKING):
        reason = _("Connector %(status)s again (found at %(at)s).") % {
            "status": Connector.Status(ticket.connector.status).label,
            "at": _when(now),
        }
        resolved += tickets.resolve(ticket, reason, at=now)

    # Offline chargers: accepted, once connected, disconnected for the alert time, and no
    # maintenance window in it.
    cutoff = now - timedelta(seconds=settings.OPERATIONS_OFFLINE_ALERT_AFTER)
    offline = ChargePoint.objects.filter(
        registration_status=ChargePoint.Registration.ACCEPTED,
        is_connected=False,
        disconnected_at__lt=cutoff,
    ).select_related("site")
    for charge_point in offline:
        if availability.windows_covering(charge_point, cutoff, now).exists():
            continue
        if tickets.open_ticket(Kind.OFFLINE, charge_point) is None:
            opened += charger_offline(charge_point, now)[1]
    for ticket in _open(Kind.OFFLINE).filter(charge_point__is_connected=True):
        resolved += bool(charger_online(ticket.charge_point, now))

    # Stuck sessions.
    stuck_connectors = set()
    for session in _stuck_sessions(now):
        stuck_connectors.add(session.connector_id)
        if tickets.open_ticket(Kind.STUCK_SESSION, session.charge_point, session.connector) is None:
            opened += session_stuck(session, now)[1]
    for ticket in _open(Kind.STUCK_SESSION).exclude(connector_id__in=stuck_connectors):
        reason = _("Meter values again, or the session ended (found at %(at)s).") % {
            "at": _when(now)
        }
        resolved += tickets.resolve(ticket, reason, at=now)

    # Repeated boots: over once the charger stayed up a whole window.
    for ticket in _open(Kind.REPEATED_BOOTS):
        booted = ChargerBoot.objects.filter(
            charge_point=ticket.charge_point, at__gt=now - BOOT_WINDOW
        )
        if not booted.exists():
            reason = _("No boot for an hour (found at %(at)s).") % {"at": _when(now)}
            resolved += tickets.resolve(ticket, reason, at=now)

    # Events that open a ticket once: any of the last day that no ticket has as evidence.
    for event in SecurityEvent.objects.filter(
        type__in=TICKETED_SECURITY_EVENTS, received_at__gte=now - LOOKBACK
    ).select_related("charge_point__site"):
        if not _in_evidence("security_event", event.pk, Kind.SECURITY_EVENT):
            opened += security_event(event)[1]
    commands = ChargerCommand.objects.filter(
        action="RemoteStartTransaction",
        answered_at__gte=now - LOOKBACK,
    ).filter(
        Q(status__in=[ChargerCommand.Status.ERROR, ChargerCommand.Status.TIMEOUT])
        | Q(status=ChargerCommand.Status.ANSWERED, response__status="Rejected")
    )
    for command in commands.select_related("charge_point__site"):
        if not _in_evidence("command", command.pk, Kind.REMOTE_START_FAILED):
            opened += command_finished(command)[1]
    return {"opened": opened, "resolved": resolved}


def _open(kind: str) -> Any:
    return Ticket.objects.filter(kind=kind, status__in=Ticket.OPEN_STATUSES).select_related(
        "charge_point", "connector"
    )


def _in_evidence(key: str, pk: int, kind: str) -> bool:
    return TicketEntry.objects.filter(ticket__kind=kind, **{f"data__{key}": pk}).exists()

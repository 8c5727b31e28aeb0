"""Domain events the stations app emits; billing, notifications and operations listen.

Sent after the database transaction commits, so a listener never sees a rolled-back
session, and robustly: a listener that raises is logged and never breaks the charger's
answer (each listening app has a periodic sweep that catches up with what it missed).
Listeners must be quick: slow work goes to a Celery task.
"""

from typing import Any

from django.db import transaction
from django.dispatch import Signal

# sender=ChargingSession, session=...
session_started = Signal()
# sender=ChargingSession, session=...
session_ended = Signal()
# sender=ChargingSession, session=..., samples=[MeterSample, ...] (the ones the call
# carried, a retransmitted one too);
# MeterValues of a known session were stored. Sent once per MeterValues.req, which a
# charger sends every few seconds to minutes: listeners run in the charger's request and
# must be cheap and never raise. The session comes with its charge point, its connector
# (with the status the handler knows) and its id token (owner_id): use them, do not ask
# the database again.
meter_values_received = Signal()
# sender=Connector, connector=..., previous_status=...
connector_status_changed = Signal()
# sender=Connector, connector=..., event=StatusEvent, previous_status=... (the connector's
# status before this notification, as the handler knew it); every StatusNotification
# stored, a repeated status too (a fault reported again is evidence, not a change).
status_notification_received = Signal()
# sender=ChargePoint, charge_point=..., at=...; from ConnectionEvent rows (connections.py,
# liveness.py): the socket opened, or it closed or fell silent.
charge_point_connected = Signal()
charge_point_disconnected = Signal()
# sender=ChargePoint, charge_point=..., previous_boot_at=... (its BootNotification before
# this one, whatever the answer, or None); a BootNotification was answered Accepted.
charge_point_booted = Signal()
# sender=SecurityEvent, event=...
security_event_received = Signal()
# sender=ChargingSession, session=...; smart charging cannot serve it now: it waits at
# 0 A (stations/load_balancing.py), sent once each time it starts waiting.
session_waiting = Signal()
# sender=Site, site=..., load={phase: amps}, limit_amps=...; a changed draw measured by
# MeterValues puts the cars of a managed site over its limit now on some phase
# (stations/load_balancing.py note_draw). Operations opens (or joins) a ticket.
site_over_limit = Signal()
# sender=FirmwareStatusEvent, event=...; a (Signed)FirmwareStatusNotification was stored.
firmware_status_received = Signal()
# sender=DiagnosticsStatusEvent, event=...; a Diagnostics- or LogStatusNotification was stored.
diagnostics_status_received = Signal()
# sender=ChargerCommand, command=...; a command's outcome was recorded (answered, CALLERROR,
# timeout, offline).
command_finished = Signal()
# sender=ChargePoint, charge_point=..., csr=...; SignCertificate was answered Accepted:
# the CSR is signed and sent back (CertificateSigned) by a task, after the answer.
certificate_signing_requested = Signal()
# sender=Site, at=..., near=(lat, lon) or None, connector_type=..., found_free=...; a
# driver searched for a charger in the portal or the API (stations.finder.announce_search).
station_searched = Signal()
# sender=ChargePoint, charge_point=..., connector_id=... (0 for Authorize), action=
# "Authorize" or "StartTransaction", status=... (idTagInfo, not "Accepted"), at=...; a
# driver's start was refused at the charger (a retransmitted StartTransaction once).
authorization_refused = Signal()


def announce(signal: Signal, sender: type, **kwargs: Any) -> None:
    """Send `signal` once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: signal.send_robust(sender=sender, **kwargs))

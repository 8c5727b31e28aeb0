"""What stations itself does on its own events (stations/signals.py): smart charging
runs again when the load of a managed site may change (stations/load_balancing.py);
local authorization lists follow their tokens (stations/local_list.py); a charger
that comes back gets what a batch could not send it while offline (batches.py); a
charger's CSR is signed and sent back (stations/certificates.py).

Cheap and robust: each asks for a debounced run, which happens in a task.
"""

from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from stations import batches, load_balancing, local_list, tasks
from stations.models import (
    ChargePoint,
    ChargerCommand,
    ChargingSession,
    LocalListEntry,
    MeterSample,
)
from stations.signals import (
    certificate_signing_requested,
    charge_point_booted,
    charge_point_connected,
    charge_point_disconnected,
    command_finished,
    meter_values_received,
    session_ended,
    session_started,
)
from users.models import IdToken


@receiver(session_started, dispatch_uid="stations.load_balancing.session_started")
@receiver(session_ended, dispatch_uid="stations.load_balancing.session_ended")
def session_changed(sender: type, session: ChargingSession, **kwargs: Any) -> None:
    tasks.allocate_soon(session.charge_point.site_id)


@receiver(meter_values_received, dispatch_uid="stations.load_balancing.meter_values")
def draw_measured(
    sender: type,
    session: ChargingSession,
    samples: list[MeterSample] | None = None,
    **kwargs: Any,
) -> None:
    if load_balancing.note_draw(session, samples):
        tasks.allocate_soon(session.charge_point.site_id)


@receiver(charge_point_connected, dispatch_uid="stations.load_balancing.connected")
@receiver(charge_point_disconnected, dispatch_uid="stations.load_balancing.disconnected")
def charger_came_or_went(sender: type, charge_point: ChargePoint, **kwargs: Any) -> None:
    tasks.allocate_soon(charge_point.site_id)


@receiver(command_finished, sender=ChargerCommand, dispatch_uid="stations.local_list.version")
def local_list_version_reported(sender: type, command: ChargerCommand, **kwargs: Any) -> None:
    if local_list.version_reported(command):
        tasks.sync_local_list_soon([command.charge_point_id])


@receiver(post_save, sender=IdToken, dispatch_uid="stations.local_list.token_saved")
def local_list_token_changed(sender: type, instance: IdToken, **kwargs: Any) -> None:
    listing = local_list.charge_points_listing(instance.pk)
    tasks.sync_local_list_soon(local_list.mark_changed(listing))


@receiver(post_save, sender=LocalListEntry, dispatch_uid="stations.local_list.entry_saved")
def local_list_entry_added(sender: type, instance: LocalListEntry, **kwargs: Any) -> None:
    tasks.sync_local_list_soon(local_list.mark_changed(local_list.charge_points_of(instance)))


@receiver(post_delete, sender=LocalListEntry, dispatch_uid="stations.local_list.entry_deleted")
def local_list_entry_removed(sender: type, instance: LocalListEntry, **kwargs: Any) -> None:
    listing = local_list.charge_points_of(instance)
    tasks.sync_local_list_soon(local_list.mark_changed(listing, added=False))


@receiver(charge_point_connected, dispatch_uid="stations.batches.resume")
@receiver(charge_point_booted, dispatch_uid="stations.batches.resume_after_boot")
def charger_came_back(sender: type, charge_point: ChargePoint, **kwargs: Any) -> None:
    # A configuration pushed while it was offline is applied now (batches.resume); after
    # its boot too: a command that raced the new connection's start finds it offline and
    # waits again, and a rebooted charger heeds nothing before its boot is answered.
    if batches.waits_for(charge_point):
        tasks.resume_batches_soon(charge_point.charge_point_id)


@receiver(certificate_signing_requested, dispatch_uid="stations.certificates.signing_requested")
def sign_certificate(sender: type, charge_point: ChargePoint, csr: str, **kwargs: Any) -> None:
    tasks.sign_certificate_soon(charge_point.charge_point_id, csr)

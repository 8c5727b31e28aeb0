"""Local authorization lists (OCPP 1.6 §3.5.3, §5.10, §5.15): the one place that decides
what each charger's list holds and brings the charger in step.

- What a charger's list holds: the tokens listed for its site and for itself
  (`LocalListEntry`), each with the IdTagInfo a charger online would get
  (`authorization.id_tag_info`, so billing's refusals through CHARGING_POLICIES count):
  Blocked and Expired tokens stay on the list, as the spec intends, so that a charger
  offline refuses them instead of trusting an unknown card.
- Too many for the charger (`LocalAuthListMaxLength`): Accepted tokens first, then the
  rest, each by id tag; the ones past the maximum are left out.
- At most `SendLocalListMaxLength` entries per SendLocalList: a Full update goes as one
  Full with the first entries and Differentials with the rest; a Differential as several
  Differentials, removals first (the list never grows past its maximum on the way).
  Each message has the next version; the version is stored after each accepted message.
- When: token or list changes mark the chargers concerned (`mark_changed`) and a
  debounced sync (LOCAL_LIST_DEBOUNCE s) sends a Differential; after boot
  (OCPP_AFTER_BOOT) GetLocalListVersion, and a version other than ours gets a Full; an
  answer VersionMismatch gets a Full too. An hourly sweep catches what no signal tells
  (a wallet that ran dry makes a token Blocked).
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone
from ocpp.v16 import call

from chargehub.compiled_queries import CompiledQuery, Param
from stations import authorization
from stations.models import ChargePoint, ChargerCommand, LocalListEntry, LocalListSync
from stations.ocpp import commands
from stations.operations import refresh_configuration

logger = logging.getLogger(__name__)

SOURCE = "local list"
LIST_MAX_KEY = "LocalAuthListMaxLength"
SEND_MAX_KEY = "SendLocalListMaxLength"
FULL = "Full"
DIFFERENTIAL = "Differential"
# What a sync came to (sync()).
SYNCED, FAILED, AGAIN, BUSY = "synced", "failed", "again", "busy"
# A sync that took longer than this (a process that died) no longer holds its charger.
LEASE = timedelta(minutes=5)

# {"ID-TAG": {"status": ..., "expiryDate": ..., "parentIdTag": ...}}
Entries = dict[str, dict[str, str]]


@dataclass(frozen=True)
class Update:
    """One SendLocalList: its type and its entries (an entry of None removes the id tag)."""

    update_type: str
    entries: dict[str, dict[str, str] | None]


def is_managed(charge_point: ChargePoint) -> bool:
    """Whether ChargeHub keeps this charger's list: tokens are listed for it, or it was
    sent a list before (which may now have to be emptied)."""
    # Asked at every boot: the SQL of both questions is built once (CompiledQuery).
    if SYNC_STATE.exists(charge_point=charge_point):
        return True
    return LISTED_ENTRY.exists(charge_point=charge_point, site_id=charge_point.site_id)


SYNC_STATE = CompiledQuery(
    lambda charge_point: LocalListSync.objects.filter(charge_point=charge_point)
)


def _entries(charge_point: ChargePoint | Param, site_id: int | Param | None) -> Any:
    # _listed()'s query, written once for values and for the Params of LISTED_ENTRY.
    where = Q(charge_point=charge_point)
    if site_id is not None:
        # Only with a site: Q(site_id=None) would match every charger's entry.
        where |= Q(site_id=site_id)
    return LocalListEntry.objects.filter(where)


# _listed(): of a charger without a site (site_id None), or of one on a site.
LISTED_ENTRY = CompiledQuery(_entries, optional=("site_id",))


def _listed(charge_point: ChargePoint) -> Any:
    return _entries(charge_point, charge_point.site_id)


def wanted(charge_point: ChargePoint, now: datetime | None = None) -> Entries:
    """What the charger's list should hold now, cut to its LocalAuthListMaxLength."""
    now = now or timezone.now()
    uids = sorted(set(_listed(charge_point).values_list("token__uid", flat=True)))
    entries: Entries = {}
    for uid in uids:
        info = authorization.id_tag_info(uid, now)
        if "expiryDate" in info:
            info["expiryDate"] = info["expiryDate"].isoformat().replace("+00:00", "Z")
        entries[uid] = info
    list_max, _send_max = max_lengths(charge_point)
    if list_max is not None and len(entries) > list_max:
        # Accepted first: the list is what lets drivers charge while the charger is offline.
        kept = sorted(entries, key=lambda uid: (entries[uid]["status"] != "Accepted", uid))
        entries = {uid: entries[uid] for uid in sorted(kept[:list_max])}
    return entries


def max_lengths(charge_point: ChargePoint) -> tuple[int | None, int | None]:
    """LocalAuthListMaxLength and SendLocalListMaxLength from the stored configuration;
    None when the charger did not tell (or told nonsense)."""
    return (
        _positive(charge_point.configuration.get(LIST_MAX_KEY)),
        _positive(charge_point.configuration.get(SEND_MAX_KEY)),
    )


def _positive(item: Any) -> int | None:
    value = item.get("value") if isinstance(item, dict) else None
    try:
        number = int(str(value).strip())
    except ValueError:
        return None
    return number if number > 0 else None


def plan(held: Entries, wanted_entries: Entries, full: bool, send_max: int | None) -> list[Update]:
    """The SendLocalList messages that turn `held` into `wanted_entries` (pure).

    Full: one Full update (even an empty one: it empties the charger's list), then
    Differentials with the entries past `send_max`. Otherwise only the differences, as
    Differentials, removals first; nothing when there are none.
    """
    size = send_max or max(len(wanted_entries), 1)
    if full:
        items = list(wanted_entries.items())
        chunks = [items[start : start + size] for start in range(0, len(items), size)] or [[]]
        return [
            Update(FULL if number == 0 else DIFFERENTIAL, dict(chunk))
            for number, chunk in enumerate(chunks)
        ]
    removals = [(uid, None) for uid in sorted(held) if uid not in wanted_entries]
    changes = [(uid, info) for uid, info in sorted(wanted_entries.items()) if held.get(uid) != info]
    items: list[tuple[str, dict[str, str] | None]] = removals + changes
    return [
        Update(DIFFERENTIAL, dict(items[start : start + size]))
        for start in range(0, len(items), size)
    ]


def request_of(update: Update, version: int) -> call.SendLocalList:
    return call.SendLocalList(
        list_version=version,
        update_type=update.update_type,
        local_authorization_list=[
            {"id_tag": uid, **({"id_tag_info": info} if info is not None else {})}
            for uid, info in update.entries.items()
        ],
    )


def after_boot(charge_point: ChargePoint) -> list[Any]:
    """An OCPP_AFTER_BOOT hook: ask a charger whose list ChargeHub keeps for its version
    (the answer: `version_reported`)."""
    return [call.GetLocalListVersion()] if is_managed(charge_point) else []


def version_reported(command: ChargerCommand) -> bool:
    """Store the version a GetLocalListVersion answer reports; True when the charger's
    list must be synced (another version than ours, or a change waiting)."""
    if command.action != "GetLocalListVersion" or command.status != ChargerCommand.Status.ANSWERED:
        return False
    reported = (command.response or {}).get("listVersion")
    if not isinstance(reported, int):
        return False
    state, _created = LocalListSync.objects.get_or_create(charge_point=command.charge_point)
    state.charger_version = reported
    state.save(update_fields=["charger_version"])
    # -1: the charger has no local list (OCPP 1.6 §5.10); nothing to send it. Never
    # synced: its list (even at our version 0, empty) is not one ChargeHub sent.
    return reported != -1 and (
        reported != state.version or state.changed_at is not None or state.synced_at is None
    )


def charge_points_listing(token_id: int) -> list[int]:
    """The chargers whose list holds this token (through their site or their own)."""
    entries = LocalListEntry.objects.filter(token_id=token_id)
    site_ids = entries.exclude(site=None).values("site_id")
    return list(
        ChargePoint.objects.filter(
            Q(site_id__in=site_ids) | Q(local_list_entries__in=entries.filter(site=None))
        )
        .values_list("pk", flat=True)
        .distinct()
    )


def charge_points_of(entry: LocalListEntry) -> list[int]:
    if entry.charge_point_id is not None:
        return [entry.charge_point_id]
    return list(ChargePoint.objects.filter(site_id=entry.site_id).values_list("pk", flat=True))


def mark_changed(
    charge_point_ids: list[int], *, added: bool = True, now: datetime | None = None
) -> list[int]:
    """Mark these chargers' lists as waiting for a sync; returns the ones that were not
    waiting already (those need a sync queued: the others have one on its way).

    `added=False` (an entry removed) marks only chargers that were sent a list: one that
    never was has nothing to remove, and the charger may itself be going (cascade).
    """
    now = now or timezone.now()
    if added:
        for pk in charge_point_ids:
            LocalListSync.objects.get_or_create(charge_point_id=pk)
    waiting = LocalListSync.objects.filter(charge_point_id__in=charge_point_ids)
    fresh = list(waiting.filter(changed_at=None).values_list("charge_point_id", flat=True))
    waiting.update(changed_at=now)
    return fresh


def sync(charge_point_id: int) -> str:
    """Bring one connected charger's list in step: SYNCED, FAILED (offline, refused: the
    mark stays, its GetLocalListVersion after boot syncs it again), AGAIN (a change
    came while sending: the caller queues another sync) or BUSY (another sync of it runs).
    """
    charge_point = ChargePoint.objects.filter(pk=charge_point_id).first()
    if charge_point is None:
        return FAILED  # deleted since
    LocalListSync.objects.get_or_create(charge_point=charge_point)
    if not _claim(charge_point_id):
        # Another sync of this charger runs: it sends what it read, and a change that
        # came after it read keeps the mark, so it answers AGAIN and a sync follows.
        return BUSY
    try:
        return _sync_claimed(charge_point)
    finally:
        LocalListSync.objects.filter(charge_point=charge_point).update(syncing_since=None)


def _claim(charge_point_id: int) -> bool:
    now = timezone.now()
    free = Q(syncing_since__isnull=True) | Q(syncing_since__lt=now - LEASE)
    return bool(
        LocalListSync.objects.filter(free, charge_point_id=charge_point_id).update(
            syncing_since=now
        )
    )


def _sync_claimed(charge_point: ChargePoint) -> str:
    state = LocalListSync.objects.get(charge_point=charge_point)
    marked = state.changed_at
    try:
        if None in max_lengths(charge_point):
            # A charger that does not know a key answers it unknown: the list then
            # goes without that limit (and the key is asked for again next time).
            refresh_configuration(
                charge_point.charge_point_id, [LIST_MAX_KEY, SEND_MAX_KEY], source=SOURCE
            )
            charge_point.refresh_from_db(fields=["configuration"])
        # A list ChargeHub never sent, or another version than ours: start from nothing.
        full = state.charger_version != state.version or state.synced_at is None
        done = _send(charge_point, state, full)
        if done is None:  # VersionMismatch: the charger's list is not what we think
            done = _send(charge_point, state, True)
    except commands.CommandError as error:
        state.last_result = str(error)[:200]
        state.save(update_fields=["last_result"])
        logger.info("%s: local list not synced: %s", charge_point.charge_point_id, error)
        return FAILED
    if not done:
        return FAILED
    # Only the mark read at the start: a change since then keeps it for another sync.
    mine = LocalListSync.objects.filter(charge_point=charge_point, changed_at=marked)
    if marked is not None and not mine.update(changed_at=None):
        return AGAIN
    return SYNCED


def _send(charge_point: ChargePoint, state: LocalListSync, full: bool) -> bool | None:
    """Send the updates; True when all were accepted, None on VersionMismatch."""
    _list_max, send_max = max_lengths(charge_point)
    updates = plan(state.entries, wanted(charge_point), full, send_max)
    for update in updates:
        version = state.version + 1
        answer = commands.send_sync(
            charge_point.charge_point_id, request_of(update, version), source=SOURCE
        )
        state.last_result = answer.status
        state.synced_at = timezone.now()
        if answer.status != "Accepted":
            state.save(update_fields=["last_result", "synced_at"])
            if answer.status == "VersionMismatch" and not full:
                return None
            return False
        held = {} if update.update_type == FULL else dict(state.entries)
        for uid, info in update.entries.items():
            if info is None:
                held.pop(uid, None)
            else:
                held[uid] = info
        state.version = state.charger_version = version
        state.entries = held
        state.save()
    if not updates:
        state.synced_at = timezone.now()
        state.save(update_fields=["synced_at"])
    return True


def managed_and_connected() -> list[int]:
    """For the hourly sweep: connected chargers whose list ChargeHub keeps."""
    listed = Q(local_list__isnull=False) | Q(local_list_entries__isnull=False)
    listed |= Q(site__local_list_entries__isnull=False)
    return list(
        ChargePoint.objects.filter(listed, is_connected=True)
        .values_list("pk", flat=True)
        .distinct()
    )

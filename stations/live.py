"""Live updates for the driver portal: a read-only WebSocket and the events it relays.

A page opens `ws/live/` and says what it watches:

    {"watch": "stations"}             every connector status change (the station list)
    {"watch": "site", "id": 12}       the connectors of one site (the station page)
    {"watch": "session", "id": 4711}  one charging session; its driver only
    {"watch": "network"}              every charger and connector change; staff who may
                                      view charge points only (the operations dashboard)

and is answered {"kind": "watching", ...} or {"kind": "refused", ...}.

The receivers below turn the domain events of stations/signals.py into channel-layer
group messages, so an update reaches the page in whichever process the charger's
socket is held. Nothing is ever received from a page but what to watch: this socket
cannot change anything. Updates relayed from a server's database thread wait on the
server's loop and go out in batches (one Redis round trip for all their groups' members
with chargehub/redis_channel_layer.py's group_send_many), each group's in the order
relayed.

A session's figures (kWh, power, cost so far) are sent by the portal
(portal/live_figures.py) on `meter_values_received`, through `relay()`: pricing is
billing's, which stations never imports. Those messages are {"kind": "figures", ...}.
A driver's new notification (notifications/inbox.py, to their driver group, which every
logged-in page joins) is {"kind": "notification", "id", "title", "body", "url", "unread"}.
"""

import asyncio
import json
import logging
from collections import deque
from typing import Any

from asgiref.sync import SyncToAsync
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from django.dispatch import receiver

from stations.models import ChargingSession, Connector
from stations.ocpp.commands import from_sync_code
from stations.signals import connector_status_changed, session_ended, session_started

logger = logging.getLogger(__name__)

STATIONS_GROUP = "live.stations"
# The operations dashboard's: what operations/live.py sends there names chargers and
# their faults, so only staff join it.
NETWORK_GROUP = "live.network"
# A page should not be able to join thousands of groups on one socket.
MAX_WATCHES = 50


def site_group(site_id: int) -> str:
    return f"live.site.{site_id}"


def session_group(session_id: int) -> str:
    return f"live.session.{session_id}"


def driver_group(user_id: int) -> str:
    return f"live.driver.{user_id}"


def _is_row_id(value: Any) -> bool:
    # A primary key: bool is an int in Python, and a huge one would make a group name
    # over the channel layer's 100 characters.
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63


def _owns_session(user_id: int, session_id: int) -> bool:
    return ChargingSession.objects.filter(pk=session_id, id_token__owner_id=user_id).exists()


def may_watch_network(user: Any) -> bool:
    """Staff who may view charge points in the admin watch the whole network."""
    return bool(
        user is not None
        and user.is_authenticated
        and user.is_active
        and user.is_staff
        and user.has_perm("stations.view_chargepoint")
    )


class LiveConsumer(AsyncJsonWebsocketConsumer):
    """Relays connector and session updates to a portal page; read-only."""

    async def connect(self) -> None:
        self.groups_joined: set[str] = set()
        user = self.scope.get("user")
        if user is not None and user.is_authenticated:
            # A driver's pages learn about their new sessions (a remote start that the
            # car has now taken up) without asking for each one. Joined before accepting:
            # once the page sees the socket open, nothing about its sessions is missed.
            await self._join(driver_group(user.pk))
        await self.accept()

    async def disconnect(self, code: int) -> None:
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        # A page sends only what it watches. Anything that is not JSON text (a binary
        # frame, garbage, nesting deeper than the parser's stack) is ignored, not a crash.
        try:
            content = json.loads(text_data or "")
        except (ValueError, RecursionError):
            return
        await self.receive_json(content, **kwargs)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict) or len(self.groups_joined) >= MAX_WATCHES:
            return
        watch, ident = content.get("watch"), content.get("id")
        if not isinstance(watch, str) or not _is_row_id(ident):
            # Only strings and row ids are echoed back, or made into group names.
            watch = watch if isinstance(watch, str) else None
            ident = None
        group = None
        if watch == "stations":
            group = STATIONS_GROUP
        elif watch == "network":
            if await database_sync_to_async(may_watch_network)(self.scope.get("user")):
                group = NETWORK_GROUP
        elif watch == "site" and ident is not None:
            group = site_group(ident)
        elif watch == "session" and ident is not None:
            user = self.scope.get("user")
            if user is not None and user.is_authenticated:
                if await database_sync_to_async(_owns_session)(user.pk, ident):
                    group = session_group(ident)
        if group is None:
            # One answer for another driver's session and for none at all: the socket
            # does not tell which sessions exist.
            await self.send_json({"kind": "refused", "watch": watch, "id": ident})
            return
        await self._join(group)
        await self.send_json({"kind": "watching", "watch": watch, "id": ident})

    async def _join(self, group: str) -> None:
        if group not in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
            self.groups_joined.add(group)

    async def live_update(self, event: dict[str, Any]) -> None:
        await self.send_json(event["data"])


Update = tuple[list[str], dict[str, Any]]  # (groups, data), as relayed


async def _group_send(updates: list[Update]) -> None:
    """Send each update to its groups, in order: each group gets its updates in the
    order relayed."""
    layer = get_channel_layer()
    if layer is None:
        return
    group_send_many = getattr(layer, "group_send_many", None)
    if group_send_many is not None:
        # Ours (chargehub/redis_channel_layer.py, chargehub/channel_layer.py): the
        # members of all the batch's groups in one Redis round trip per host (mostly
        # none: no page watching), or one trip to the embedded layer's thread.
        await group_send_many(
            [
                (group, {"type": "live.update", "data": data})
                for groups, data in updates
                for group in groups
            ]
        )
        return
    # Another layer (channels_redis's own, in-memory): one update after the other.
    for groups, data in updates:
        # Side by side: one update's groups wait for the layer once, not once per group.
        message = {"type": "live.update", "data": data}
        results = await asyncio.gather(
            *(layer.group_send(group, message) for group in groups), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result


# On the process's sending loop, as commands from sync code: a Celery task's or a
# thread's update reuses that loop's Redis connections instead of opening its own.
_send = from_sync_code(_group_send)


def _relay(groups: list[str], data: dict[str, Any]) -> None:
    # Sent from the charger's request (after commit): a channel layer that is down
    # must not fail it. The page misses an update; its next load is right.
    loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    if loop is not None and loop.is_running():
        # A server's database thread (an OCPP call, a view): the server's loop sends it,
        # in order, instead of the thread (and the charger's answer) waiting for Redis.
        loop.call_soon_threadsafe(_queue_update, groups, data)
        return
    try:
        _send([(groups, data)])
    except Exception:
        logger.exception("Live update not sent to %s", groups)


# Updates waiting on each server loop, in the order they were relayed; a loop's entry
# exists while its sender task runs. Bounded: a layer that does not answer (Redis down),
# or a storm of connects faster than Redis takes their updates, must not make them pile
# up; the pages miss those updates (their next load is right), counted in one warning.
# The sender takes up to MAX_BATCH of them at a time and sends them as one batch.
_waiting: dict[asyncio.AbstractEventLoop, deque[Update]] = {}
_dropped: dict[asyncio.AbstractEventLoop, int] = {}
_senders: set[asyncio.Task[None]] = set()
MAX_WAITING = 10_000
MAX_BATCH = 200


def _queue_update(groups: list[str], data: dict[str, Any]) -> None:
    """On the server's loop: queue an update, starting its sender if none runs."""
    loop = asyncio.get_running_loop()
    waiting = _waiting.get(loop)
    if waiting is None:
        waiting = _waiting[loop] = deque()
        sender = loop.create_task(_send_waiting(loop, waiting))
        _senders.add(sender)
        sender.add_done_callback(_senders.discard)
    if len(waiting) >= MAX_WAITING:
        _dropped[loop] = _dropped.get(loop, 0) + 1
        if _dropped[loop] == 1:  # once, and the count once the queue drains
            logger.warning("Live updates dropped: %d waiting", len(waiting))
        return
    waiting.append((groups, data))


async def _send_waiting(loop: asyncio.AbstractEventLoop, waiting: deque[Update]) -> None:
    try:
        while waiting:
            batch = [waiting.popleft() for _ in range(min(len(waiting), MAX_BATCH))]
            try:
                await _group_send(batch)
            except Exception:
                groups = sorted({group for groups, _ in batch for group in groups})
                logger.exception("Live update not sent to %s (%d updates)", groups, len(batch))
    finally:
        del _waiting[loop]
        if dropped := _dropped.pop(loop, 0):
            logger.warning("%d live updates dropped: %d were waiting", dropped, MAX_WAITING)


def is_watched(group: str) -> bool:
    """Whether a page watches `group` now, in any process: the channel layer's members.

    For sync code that would otherwise do work for nobody (portal/receivers.py: a
    session's figures); blocking, one cheap read (a Redis ZCOUNT, or the embedded layer's
    file). A layer that cannot tell (not ours) or does not answer (Redis refused, or
    silent past chargehub/redis_channel_layer.py's HAS_MEMBERS_TIMEOUT) counts as watched:
    the work is done as before, never skipped for a page that watches.
    """
    has_members = getattr(get_channel_layer(), "has_members", None)
    if has_members is None:
        return True
    try:
        return bool(has_members(group))
    except Exception:
        logger.warning("Could not ask the channel layer who watches %s", group, exc_info=True)
        return True


def relay(groups: list[str], data: dict[str, Any]) -> None:
    """Send `data` to the pages watching `groups`, in any process; never raises.

    For other apps: portal/live_figures.py pushes a session's figures from its Celery task.
    """
    _relay(groups, data)


@receiver(connector_status_changed, sender=Connector, dispatch_uid="stations.live.connector")
def relay_connector_status(
    sender: type[Connector], connector: Connector, previous_status: str, **kwargs: Any
) -> None:
    data = {
        "kind": "connector",
        "connector": connector.pk,
        "charge_point": connector.charge_point_id,
        "status": connector.status,
        "previous_status": previous_status,
    }
    groups = [STATIONS_GROUP]
    try:
        site_id = connector.charge_point.site_id
    except Exception:
        logger.exception("Live update: no charge point for connector %s", connector.pk)
        site_id = None
    if site_id is not None:
        groups.append(site_group(site_id))
    _relay(groups, data)


def _session_groups(session: ChargingSession) -> list[str]:
    groups = [session_group(session.pk)]
    if session.driver_id is not None:
        groups.append(driver_group(session.driver_id))
    return groups


def _relay_session(session: ChargingSession) -> None:
    data = {"kind": "session", "session": session.pk, "status": session.status}
    try:
        groups = _session_groups(session)
    except Exception:
        logger.exception("Live update: no driver for session %s", session.pk)
        groups = [session_group(session.pk)]
    _relay(groups, data)


@receiver(session_started, sender=ChargingSession, dispatch_uid="stations.live.session_started")
def relay_session_started(
    sender: type[ChargingSession], session: ChargingSession, **kwargs: Any
) -> None:
    _relay_session(session)


@receiver(session_ended, sender=ChargingSession, dispatch_uid="stations.live.session_ended")
def relay_session_ended(
    sender: type[ChargingSession], session: ChargingSession, **kwargs: Any
) -> None:
    _relay_session(session)

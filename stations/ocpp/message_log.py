"""The OCPP message log, written in batches.

Every frame in and out is kept (OcppMessage). One INSERT per frame would double the
database work of a busy server, so each process buffers frames and writes them with one
bulk INSERT every FLUSH_INTERVAL seconds or FLUSH_SIZE frames. A crash loses at most
that much log, never domain data (sessions, samples and statuses are written by the
handlers in their own transactions).
"""

import asyncio
import logging

from django.utils import timezone

from stations.models import OcppMessage
from stations.ocpp.database import run_in_database

logger = logging.getLogger(__name__)

FLUSH_INTERVAL = 0.5
FLUSH_SIZE = 500

_buffer: list[OcppMessage] = []
_flusher: asyncio.Task[None] | None = None


def record(
    charge_point_id: str,
    direction: str,
    message_type: int,
    unique_id: str,
    action: str,
    frame: str,
) -> None:
    """Queue one frame for the log; call from the event loop."""
    global _flusher
    _buffer.append(
        OcppMessage(
            charge_point_id=charge_point_id,
            direction=direction,
            message_type=message_type,
            unique_id=unique_id[:64],
            action=action[:64],
            frame=frame,
            created_at=timezone.now(),
        )
    )
    if _flusher is None or _flusher.done():
        _flusher = asyncio.get_running_loop().create_task(_flush_soon())


async def _flush_soon() -> None:
    for _ in range(int(FLUSH_INTERVAL / 0.05)):
        if len(_buffer) >= FLUSH_SIZE:
            break
        await asyncio.sleep(0.05)
    await flush()


async def flush() -> None:
    """Write what is buffered now."""
    while _buffer:
        batch = _buffer[:FLUSH_SIZE]
        del _buffer[:FLUSH_SIZE]
        try:
            await run_in_database(_write)(batch)
        except Exception:
            logger.exception("Could not write %d OCPP log entries", len(batch))


def _write(batch: list[OcppMessage]) -> None:
    OcppMessage.objects.bulk_create(batch)

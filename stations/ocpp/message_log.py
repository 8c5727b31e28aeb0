"""The OCPP message log, written in batches.

Every frame in and out is kept (OcppMessage). One INSERT per frame would double the
database work of a busy server, so each process buffers frames and writes them with one
INSERT (COPY on PostgreSQL; stations/bulk_insert.py) every FLUSH_INTERVAL seconds or
FLUSH_SIZE frames. A
crash loses at most that much log, never domain data (sessions, samples and statuses
are written by the handlers in their own transactions).

A frame is stored as received, escaped where a database cannot take it: a NUL becomes
the six characters "\\u0000" and a lone surrogate "\\udXXX" (PostgreSQL refuses NUL in
text). Such frames are answered with a CALLERROR anyway (rpc.parse_frame); the escaping
keeps the one row, and a batch the database still refuses is written row by row, so
one bad row never loses the others.
"""

import asyncio
import logging
from datetime import UTC, datetime
from typing import NamedTuple

from django.db import DatabaseError, connection, transaction

from chargehub.request_text import is_unstorable
from stations import bulk_insert
from stations.models import OcppMessage
from stations.ocpp.database import run_in_database

logger = logging.getLogger(__name__)

FLUSH_INTERVAL = 0.5
FLUSH_SIZE = 500


class Entry(NamedTuple):
    """One frame's row, in the columns' order (an OcppMessage without the model: building
    a model instance per frame on the event loop cost more than the rest of record())."""

    charge_point_id: str
    direction: str
    message_type: int
    unique_id: str
    action: str
    frame: str
    created_at: datetime


_buffer: list[Entry] = []
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
        Entry(
            _storable(charge_point_id),
            direction,
            message_type,
            _storable(unique_id)[:64],
            _storable(action)[:64],
            _storable(frame),
            datetime.now(UTC),
        )
    )
    if _flusher is None or _flusher.done():
        _flusher = asyncio.get_running_loop().create_task(_flush_soon())


def _storable(text: str) -> str:
    """`text` with NUL and lone surrogates escaped, the way JSON writes them."""
    if not is_unstorable(text):
        return text  # nearly every frame: no copy
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text.replace("\x00", "\\u0000")


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
            await run_in_database(write)(batch)
        except Exception:
            logger.exception("Could not write %d OCPP log entries", len(batch))


def write(batch: list[Entry]) -> None:
    """One INSERT (COPY on PostgreSQL) for the batch; if the database refuses it, one
    per row, so that a row it refuses is the only one lost (and logged)."""
    try:
        if connection.vendor == "postgresql" and not connection.in_atomic_block:
            # One statement, stored all or nothing: no BEGIN and COMMIT round trips.
            bulk_insert.copy(OcppMessage, batch, ready=True)
            return
        # A savepoint inside a caller's transaction, so that the rows below still can be.
        with transaction.atomic():
            if connection.vendor == "postgresql":
                bulk_insert.copy(OcppMessage, batch, ready=True)
            else:
                bulk_insert.insert(OcppMessage, batch)
        return
    except DatabaseError:
        logger.warning("OCPP log batch of %d refused; writing it row by row", len(batch))
    for entry in batch:
        try:
            with transaction.atomic():
                OcppMessage(**entry._asdict()).save(force_insert=True)
        except DatabaseError:
            logger.exception(
                "OCPP log entry refused: %s %s %s",
                entry.charge_point_id,
                entry.direction,
                entry.unique_id,
            )

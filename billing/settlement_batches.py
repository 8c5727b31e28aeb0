"""Sessions to settle, handed to the worker in batches: one Celery task per batch.

Publishing a Celery task is about half a millisecond of Python (kombu); published from
the StopTransaction's commit hook, the charger's answer waited for it (docs/performance.md,
"Sixth session"). Here the hook only appends the session's id to this process's list,
and a thread of its own publishes one `settle_sessions` task (billing/tasks.py) for what
waits: FLUSH_AFTER seconds after the first id, at once when BATCH_SIZE wait, and at the
process's exit (atexit: a server stopped by SIGTERM, a management command). A thread
rather than an event loop's executor: every kind of process ends sessions (the servers,
the Celery worker, management commands), and only some of them have a loop.

Nothing is lost that a lost task did not lose before: a broker that is down loses the
batch (logged), a process killed with -9 the ids of its last FLUSH_AFTER seconds; the
periodic settle_missed_sessions settles them (billing/settlement.py, idempotent: a
session settled twice is charged once). With CELERY_TASK_ALWAYS_EAGER (the tests, no
worker) each id is sent at once, in the caller's thread, so the session is settled
before the charger's call returns, as a worker would have settled it.
"""

import atexit
import logging
import os
import threading

from billing.tasks import settle_sessions

logger = logging.getLogger(__name__)

# The longest an ended session waits in this process before its task is published.
FLUSH_AFTER = 0.2
# The most session ids in one task; more waiting are published at once.
BATCH_SIZE = 100


class SettlementBatches:
    """The ids waiting in this process and the thread that publishes them."""

    def __init__(self) -> None:
        self._ids: list[int] = []
        self._waiting = threading.Condition()
        # Held while a batch is published: the exit's flush waits for the one under way.
        self._publishing = threading.Lock()
        self._publisher: threading.Thread | None = None

    def add(self, session_id: int) -> None:
        if settle_sessions.app.conf.task_always_eager:
            publish([session_id])
            return
        with self._waiting:
            if self._publisher is None:
                self._publisher = threading.Thread(
                    target=self._publish_forever, name="settlement-batches", daemon=True
                )
                self._publisher.start()
            self._ids.append(session_id)
            if len(self._ids) in (1, BATCH_SIZE):  # the timer starts, or the batch is full
                self._waiting.notify()

    def flush(self) -> None:
        """Publish what waits now: the publisher thread's batch, or the rest at exit."""
        with self._publishing:
            with self._waiting:
                batch, self._ids = self._ids, []
            publish(batch)

    def _publish_forever(self) -> None:
        while True:
            with self._waiting:
                self._waiting.wait_for(lambda: self._ids)
                self._waiting.wait_for(lambda: len(self._ids) >= BATCH_SIZE, FLUSH_AFTER)
            self.flush()


def publish(session_ids: list[int]) -> None:
    """One settle_sessions task per BATCH_SIZE ids; a broker that is down is logged, the
    sessions are left to settle_missed_sessions."""
    for start in range(0, len(session_ids), BATCH_SIZE):
        batch = session_ids[start : start + BATCH_SIZE]
        try:
            settle_sessions.delay(batch)
        except Exception:
            logger.exception("Could not queue the settlement of sessions %s", batch)


_batches = SettlementBatches()


def add(session_id: int) -> None:
    """Settle this ended session soon, in a batch (at once with eager tasks)."""
    _batches.add(session_id)


def flush() -> None:
    """Publish the ids waiting in this process now."""
    _batches.flush()


def _forget_the_parents() -> None:
    """A forked child (serve --workers, Celery's prefork pool) has no publisher thread
    and must not publish its parent's ids twice: it starts empty."""
    global _batches
    _batches = SettlementBatches()


os.register_at_fork(after_in_child=_forget_the_parents)
atexit.register(flush)

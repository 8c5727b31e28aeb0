"""billing/settlement_batches.py: the sessions a process ends within a moment are one
settle_sessions task on the broker, published off the charger's call; the task settles
each once, whatever the others do; a broker that is down leaves them to the sweep."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from kombu import Connection

from billing import settlement
from billing.models import BillingAccount, SessionCharge, WalletEntry
from billing.tasks import settle_sessions
from billing.wallet import credit_wallet_manually, wallet_balance
from tests.billing.sessions import charging_site, finished_session, token_of
from tests.fresh_process import run_with
from tests.redis_servers import needs_redis_server
from tests.waiting import free_port

STARTED = datetime(2026, 3, 10, 8, tzinfo=UTC)

# A process that ends sessions (as a server's StopTransactions do, through the receiver
# that stations' session_ended reaches after commit), with a real broker and no eager
# tasks, as in production. With WAIT it stays until the broker holds a message.
ENDS_SESSIONS = """
import os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chargehub.settings")
import django
django.setup()
from redis import Redis
from billing.receivers import settle_ended_session
from stations.models import ChargingSession
from tests.waiting import wait_until
for pk in {ids}:
    settle_ended_session(ChargingSession, session=ChargingSession(pk=pk))
if {wait}:
    queued = lambda: Redis.from_url(os.environ["REDIS_URL"]).llen("celery")
    assert wait_until(queued, timeout=10), "nothing published within the batch window"
"""


def end_sessions(redis_url: str, ids: list[int], *, wait: bool):
    env = {"REDIS_URL": redis_url, "CELERY_TASK_ALWAYS_EAGER": "0", "DEBUG": "1"}
    return run_with(env, "-c", ENDS_SESSIONS.format(ids=ids, wait=wait))


def task_messages(redis_url: str) -> list[tuple[str, list]]:
    """The tasks on Celery's queue (name, positional arguments), read with kombu."""
    messages = []
    with Connection(redis_url) as connection:
        queue = connection.SimpleQueue("celery")
        while True:
            try:
                message = queue.get_nowait()
            except queue.Empty:
                break
            messages.append((message.headers["task"], message.payload[0]))
            message.ack()
        queue.close()
    return messages


@needs_redis_server
def test_sessions_ending_within_the_batch_window_are_one_task_with_all_their_ids(redis_server):
    broker = redis_server.url
    ended = end_sessions(broker, list(range(1, 41)), wait=True)

    assert ended.returncode == 0, ended.stderr
    assert task_messages(broker) == [("billing.tasks.settle_sessions", [list(range(1, 41))])]


@needs_redis_server
def test_sessions_still_waiting_when_the_process_exits_are_published(redis_server):
    ended = end_sessions(redis_server.url, [7, 8, 9], wait=False)

    assert ended.returncode == 0, ended.stderr
    assert task_messages(redis_server.url) == [("billing.tasks.settle_sessions", [[7, 8, 9]])]


@pytest.mark.django_db
def test_a_broker_that_is_down_is_logged_and_the_sweep_settles_the_session():
    session = finished_session(charging_site(), token_of(None), started_at=STARTED, wh=5_000)
    nobody_listens = f"redis://127.0.0.1:{free_port()}/0"

    ended = end_sessions(nobody_listens, [session.pk], wait=False)

    assert ended.returncode == 0, ended.stderr
    assert f"Could not queue the settlement of sessions [{session.pk}]" in ended.stderr
    assert settlement.settle_missed_sessions(now=session.stopped_at + timedelta(minutes=6)) == 1
    assert SessionCharge.objects.get(session=session).gross == Decimal("6.25")


@pytest.mark.django_db
def test_the_batch_task_settles_each_session_once_and_a_failing_one_stops_no_other(driver, staff):
    BillingAccount.objects.create(user=driver, payment_method=BillingAccount.PaymentMethod.WALLET)
    credit_wallet_manually(driver, Decimal(100), staff=staff, reason="Cash")
    connector = charging_site()  # 1 SEK per kWh net, 25 % VAT
    first, second = (
        finished_session(
            connector, token_of(driver), started_at=STARTED + timedelta(days=d), wh=4_000
        )
        for d in (0, 1)
    )

    # An id that cannot be read (a message not written by us), and a repeated one.
    settle_sessions.delay([first.pk, "not-a-session", second.pk, first.pk])

    charges = SessionCharge.objects.filter(session__in=[first, second])
    assert sorted(charges.values_list("status", flat=True)) == [SessionCharge.Status.PAID] * 2
    assert WalletEntry.objects.filter(kind=WalletEntry.Kind.DEBIT).count() == 2
    assert wallet_balance(driver) == Decimal("90.00")

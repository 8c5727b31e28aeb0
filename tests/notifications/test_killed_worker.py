"""A worker process killed while it sends a message (notifications/outbox.py): the
message stays claimed until its lease ends, then the sweep of a restarted worker sends it
once. The worker is a real `manage.py shell` process on the test database, stuck in its
SMTP send against a local server that never answers, and killed with SIGKILL."""

import socket
import subprocess
import sys
from datetime import timedelta

from django.utils import timezone

from notifications import outbox
from notifications.models import OutboxMessage
from tests.conftest import ROOT, server_env

State = OutboxMessage.State


def test_a_worker_killed_mid_delivery_is_delivered_once_after_restart(
    transactional_db, make_user, mailoutbox, settings
):
    driver = make_user(language="en")
    payload = {"to": driver.email, "subject": "Your receipt", "text": "Body"}
    message = outbox.enqueue(
        "test", driver, "email", payload, "killed:1", deliver_after_commit=False
    )
    # A mail server that takes the connection and never greets: the send hangs there.
    silent = socket.create_server(("127.0.0.1", 0))
    silent.settimeout(60)
    env = server_env(
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(silent.getsockname()[1]),
        EMAIL_USE_TLS="0",
        EMAIL_TIMEOUT="600",
    )
    code = f"from notifications import outbox; outbox.deliver({message.pk})"
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        connection, _address = silent.accept()  # the worker claimed it and is sending
        message.refresh_from_db()
        assert (message.state, message.attempts) == (State.SENDING, 1)
    finally:
        worker.kill()  # SIGKILL: no cleanup, the claim stays
        worker.wait()
    connection.close()
    silent.close()

    # Restarted: within the dead worker's lease the sweep leaves it alone, after it the
    # message leaves once, however often the sweep runs.
    assert outbox.deliver_pending(timezone.now()) == 0
    after_lease = timezone.now() + timedelta(seconds=settings.NOTIFICATIONS_LEASE_SECONDS + 1)
    assert outbox.deliver_pending(after_lease) == 1
    assert outbox.deliver_pending(after_lease + timedelta(hours=1)) == 0
    assert [mail.to for mail in mailoutbox] == [[driver.email]]
    message.refresh_from_db()
    assert (message.state, message.attempts) == (State.SENT, 2)

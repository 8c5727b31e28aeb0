"""The Celery app: background work and the periodic schedule (beat)."""

import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chargehub.settings")

app = Celery("chargehub")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

app.conf.beat_schedule = {
    "mark-silent-chargers-offline": {
        "task": "stations.tasks.mark_silent_chargers_offline",
        "schedule": 30.0,
    },
    "close-stale-sessions": {
        "task": "stations.tasks.close_stale_sessions",
        "schedule": 600.0,
    },
    "prune-ocpp-message-log": {
        "task": "stations.tasks.prune_message_log",
        "schedule": crontab(hour=3, minute=17),
    },
}

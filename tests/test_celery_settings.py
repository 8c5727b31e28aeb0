"""chargehub/celery.py keeps Celery's settings as read once (publishing a task reads them)."""

import logging

from celery import Celery
from django.test import override_settings

from chargehub.celery import settings_read_once


def test_the_settings_are_kept_as_read_once_even_from_overridden_settings(caplog):
    app = Celery("probe")
    app.on_after_configure.connect(settings_read_once)
    with caplog.at_level(logging.ERROR), override_settings(CELERY_TASK_DEFAULT_QUEUE="probe"):
        app.config_from_object("django.conf:settings", namespace="CELERY")
        assert app.conf.task_default_queue == "probe"
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    # Kept: no longer read through Django's settings, where the override is gone.
    assert app.conf.task_default_queue == "probe"

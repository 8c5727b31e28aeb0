"""Celery tasks of the notifications app: thin wrappers over notifications/events.py."""

from celery import shared_task

from notifications import events


@shared_task
def notify_watchers(connector_id: int) -> int:
    return events.notify_watchers(connector_id)

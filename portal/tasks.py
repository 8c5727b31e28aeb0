"""Celery tasks of the portal: thin wrappers over its modules."""

from celery import shared_task

from portal import live_figures


@shared_task
def push_session_figures(session_id: int) -> bool:
    return live_figures.push_session_figures(session_id)

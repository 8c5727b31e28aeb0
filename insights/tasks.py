"""Beat's work for insights (schedule in chargehub/celery.py)."""

from celery import shared_task

from insights import rollup


@shared_task
def roll_up_insights() -> int:
    """Add what was priced since the last run to the summary tables."""
    return rollup.roll_up()

"""Beat's work for insights (schedule in chargehub/celery.py)."""

from celery import shared_task

from insights import rollup


@shared_task
def roll_up_insights() -> int:
    """Add what was priced since the last run to the summary tables."""
    return rollup.roll_up()


@shared_task
def send_monthly_report() -> int:
    """On the 1st: last month's operator report to finance and operator admins."""
    from django.utils import timezone

    from insights import report

    return report.send(report.previous_month(timezone.localdate()))

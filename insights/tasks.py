"""Beat's work for insights (schedule in chargehub/celery.py)."""

import logging
from datetime import datetime

from celery import shared_task

from insights import forecasting, maintenance_data, rollup

logger = logging.getLogger(__name__)


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


# --- Decisions: the demand forecast, predictive maintenance ------------------------------


@shared_task
def retrain_forecasts(now: str | None = None) -> int:
    """Retrain every site's demand forecast (weekly); `now` in ISO 8601 for a replay."""
    sites = forecasting.retrain(datetime.fromisoformat(now) if now else None)
    logger.info("retrain_forecasts: %d sites", sites)
    return sites


@shared_task
def assess_maintenance_risks() -> int:
    """Assess every charger's maintenance risk on yesterday's figures (daily)."""
    flagged = maintenance_data.assess_all()
    logger.info("assess_maintenance_risks: %d chargers flagged", flagged)
    return flagged

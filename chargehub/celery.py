"""The Celery app: background work and the periodic schedule (beat)."""

import os
from typing import Any

from celery import Celery
from celery.schedules import crontab
from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chargehub.settings")

app = Celery("chargehub")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def settings_read_once(sender: Celery, source: Any, **kwargs: Any) -> None:
    """Keep every Celery setting, as read from Django's settings, in the configuration's
    first layer. Publishing a task reads a few settings, each through Django's settings
    under its CELERY_ name first (an AttributeError for most): a third of what the
    publish costs the charger's call that queues a task (docs/performance.md, "Third
    session"). Set on app.conf later (tests' task_always_eager), a setting still wins."""
    # Django's own attributes (`_explicit_settings` of overridden settings) are not Celery's.
    names = [key for key in source.keys() if key.islower() and not key.startswith("_")]
    source.update({key: source[key] for key in names})


app.conf.beat_schedule = {
    # Insights' summary tables: what was priced since the last run (insights/rollup.py).
    "roll-up-insights": {
        "task": "insights.tasks.roll_up_insights",
        "schedule": 600.0,
    },
    "mark-silent-chargers-offline": {
        "task": "stations.tasks.mark_silent_chargers_offline",
        "schedule": 30.0,
    },
    "close-stale-sessions": {
        "task": "stations.tasks.close_stale_sessions",
        "schedule": 600.0,
    },
    "settle-missed-sessions": {
        "task": "billing.tasks.settle_missed_sessions",
        "schedule": 300.0,
    },
    "retry-failed-payments": {
        "task": "billing.tasks.retry_failed_payments",
        "schedule": 3600.0,
    },
    "stop-guest-sessions-nearing-their-hold": {
        "task": "billing.tasks.stop_guest_sessions_nearing_their_hold",
        "schedule": 60.0,
    },
    "release-abandoned-guest-holds": {
        "task": "billing.tasks.release_abandoned_guest_holds",
        "schedule": 900.0,
    },
    # Smart charging: a time-of-day limit begins or ends, a dynamic limit lapses, a
    # driver's cheap-hour plan starts or pauses charging.
    "allocate-changed-limits": {
        "task": "stations.tasks.allocate_changed_limits",
        "schedule": 60.0,
    },
    # "A free charger near me": watches past their time end, with their positions.
    "end-nearby-watches": {
        "task": "notifications.tasks.end_nearby_watches",
        "schedule": 60.0,
    },
    # Drivers told ahead: a booking about to start, an idle fee about to run
    # (notifications/events.py; each once, by its outbox key).
    "remind-bookings": {
        "task": "notifications.tasks.remind_bookings",
        "schedule": 60.0,
    },
    "warn-idle-fees": {
        "task": "notifications.tasks.warn_idle_fees",
        "schedule": 60.0,
    },
    # Saved cards expiring this month or next, daily (their drivers' quiet hours respected).
    "tell-cards-expiring": {
        "task": "notifications.tasks.tell_cards_expiring",
        "schedule": crontab(hour=8, minute=11),
    },
    # Local authorization lists: what no signal tells (billing blocks a token).
    "sweep-local-lists": {
        "task": "stations.tasks.sweep_local_lists",
        "schedule": 3600.0,
    },
    # Firmware campaigns: the next wave after its pause, time-outs (fleet/campaigns.py).
    "advance-firmware-campaigns": {
        "task": "fleet.tasks.advance_campaigns",
        "schedule": 60.0,
    },
    # Chargers' configurations, read after their boot and again when old (fleet), a
    # few hundred a minute at most (FLEET_CONFIGURATION_READS_PER_RUN).
    "read-due-configurations": {
        "task": "fleet.tasks.read_due_configurations",
        "schedule": 60.0,
    },
    "prune-ocpp-message-log": {
        "task": "stations.tasks.prune_message_log",
        "schedule": crontab(hour=3, minute=17),
    },
    "prune-meter-samples": {
        "task": "stations.tasks.prune_meter_samples",
        "schedule": crontab(hour=3, minute=29),
    },
    # PostgreSQL: the message log's and samples' monthly partitions, 3 months ahead
    # (stations/partitions.py); daily, so weeks of beat being down still leave room.
    "create-partitions": {
        "task": "stations.tasks.create_partitions",
        "schedule": crontab(hour=3, minute=5),
    },
    # Chargers whose certificate expires soon are asked for a new CSR (security whitepaper).
    "renew-expiring-certificates": {
        "task": "stations.tasks.renew_expiring_certificates",
        "schedule": crontab(hour=2, minute=41),
    },
    # Maintenance windows start and end on the minute (operations/maintenance.py).
    "apply-maintenance-windows": {
        "task": "operations.tasks.apply_maintenance_windows",
        "schedule": 60.0,
    },
    # Spot prices for cheap-hour charging, where SPOT_PRICE_URL is set.
    "fetch-spot-prices": {
        "task": "billing.tasks.fetch_spot_prices",
        "schedule": crontab(minute=5),
    },
    # Booked slots: held from their lead time, closed at their end (charging/bookings.py).
    "hold-and-end-bookings": {
        "task": "charging.tasks.hold_and_end_bookings",
        "schedule": 60.0,
    },
    # Inspections fall due by the day; hourly, so a day's are open by its first hours.
    "open-due-inspections": {
        "task": "operations.tasks.open_due_inspections",
        "schedule": crontab(minute=23),
    },
    # Insights' operator report of last month, to finance and operator admins.
    "send-monthly-insights-report": {
        "task": "insights.tasks.send_monthly_report",
        "schedule": crontab(day_of_month=1, hour=6, minute=13),
    },
    # Insights' decisions: the demand forecast retrained weekly (Monday night, quiet hours),
    # predictive maintenance assessed daily on yesterday's figures.
    "retrain-demand-forecasts": {
        "task": "insights.tasks.retrain_forecasts",
        "schedule": crontab(day_of_week=1, hour=2, minute=31),
    },
    "assess-maintenance-risks": {
        "task": "insights.tasks.assess_maintenance_risks",
        "schedule": crontab(hour=1, minute=41),
    },
    # Last month's invoices on the 1st; 04:07 UTC is past midnight in Europe, where the
    # month is cut (TIME_ZONE), and before the working day.
    "issue-monthly-invoices": {
        "task": "billing.tasks.issue_monthly_invoices",
        "schedule": crontab(day_of_month=1, hour=4, minute=7),
    },
    # Uptime summary (operations/figures.py): this and last month every 15 minutes, the
    # last 12 months every night.
    "refresh-recent-uptime": {
        "task": "operations.tasks.refresh_recent_uptime",
        "schedule": 900.0,
    },
    "refresh-uptime-year": {
        "task": "operations.tasks.refresh_uptime_year",
        "schedule": crontab(hour=2, minute=47),
    },
    # --- Operations: tickets and alerts (operations/faults.py, operations/alerts.py) ---
    "operations-sweep": {
        "task": "operations.tasks.sweep",
        "schedule": 60.0,
    },
    "operations-alert-digests": {
        "task": "operations.tasks.send_alert_digests",
        "schedule": crontab(hour=settings.OPERATIONS_DIGEST_HOUR, minute=3),
    },
    # The outbox sweep (notifications/outbox.py): messages a dead worker or a lost task
    # left behind, and retries that are due.
    "deliver-pending-notifications": {
        "task": "notifications.tasks.deliver_pending",
        "schedule": 30.0,
    },
}

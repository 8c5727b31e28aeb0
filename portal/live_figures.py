"""A running session's figures, pushed to its page as the charger reports them.

stations emits `meter_values_received` after a charger's MeterValues are stored; the
figures need billing (the cost so far), which stations never imports, so the portal
computes them here and sends them through stations.live to the pages watching the
session (`{"watch": "session", "id": ...}`, its driver only). The message:

    {"kind": "figures", "session": 4711, "status": "active",
     "energy_kwh": "12.345", "power_kw": "7.2" | null, "soc_percent": 54 | null,
     "cost": {"gross": "12.50", "currency": "SEK"} | null,
     "started_at": "2026-11-23T19:03:00+00:00"}

Numbers are plain decimal strings: the page formats them in its own language.
The receiver (portal/receivers.py) runs in the charger's request, after commit: it
must never fail that request (errors are logged), does nothing for a session no driver
can watch or no page watches now (stations.live.is_watched), and leaves the figures to
a Celery task (portal/tasks.py): the price so far is computed from every energy reading
of the session, tens of milliseconds for a long one (bench/session_figures.py), which
the charger's request should not wait for.
"""

from datetime import UTC
from decimal import Decimal
from typing import Any

from billing import session_figures
from stations import live
from stations.models import ChargingSession


def _plain(number: Decimal) -> str:
    # "f": never "1E+1", which a page's Number() reads but a person would not.
    return f"{number:f}"


def figures_message(session: ChargingSession) -> dict[str, Any]:
    """The "figures" message of a session, as the session page reads it."""
    figures = session_figures.figures(session)
    cost = figures.cost
    return {
        "kind": "figures",
        "session": session.pk,
        "status": session.status,
        "energy_kwh": _plain(figures.energy_kwh),
        "power_kw": None if figures.power_kw is None else _plain(figures.power_kw),
        "soc_percent": figures.soc_percent,
        "cost": {"gross": _plain(cost.gross), "currency": cost.currency} if cost else None,
        "started_at": session.started_at.astimezone(UTC).isoformat(),
    }


def push_session_figures(session_id: int) -> bool:
    """Send a running session's figures to the pages watching it; True when sent."""
    session = (
        ChargingSession.objects.select_related("connector__charge_point__site", "id_token__owner")
        .filter(pk=session_id, status=ChargingSession.Status.ACTIVE)
        .first()
    )
    if session is None:
        return False  # ended meanwhile: the page reloads with the final figures
    live.relay([live.session_group(session.pk)], figures_message(session))
    return True

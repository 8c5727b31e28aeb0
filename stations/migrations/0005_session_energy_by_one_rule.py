"""Count the energy of sessions closed before stations/sessions.py by its one rule.

They were stored as meterStop - meterStart, which a meter reset turns into far too
little; the receipt of such a session was already priced by the steps. The readings
themselves are unchanged: only `energy_wh` is counted again from them.
"""

from typing import Any

from django.db import migrations

from stations.sessions import session_energy_wh


def count_again(apps: Any, schema_editor: Any) -> None:
    ChargingSession = apps.get_model("stations", "ChargingSession")
    completed = ChargingSession.objects.filter(status="completed").only(
        "started_at", "stopped_at", "meter_start_wh", "meter_stop_wh", "energy_wh"
    )
    for session in completed.iterator(chunk_size=500):
        # The historical model has what session_energy_wh reads: times, values, samples.
        energy = session_energy_wh(session)
        if energy != session.energy_wh:
            ChargingSession.objects.filter(pk=session.pk).update(energy_wh=energy)


class Migration(migrations.Migration):
    dependencies = [("stations", "0004_opening_hours")]

    operations = [migrations.RunPython(count_again, migrations.RunPython.noop)]

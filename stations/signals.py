"""Domain events the stations app emits; billing and notifications listen.

Sent after the database transaction commits, so a listener never sees a rolled-back
session. Listeners must be quick: slow work goes to a Celery task.
"""

from django.dispatch import Signal

# sender=ChargingSession, session=...
session_started = Signal()
# sender=ChargingSession, session=...
session_ended = Signal()
# sender=ChargingSession, session=...; MeterValues of a known session were stored.
# Sent once per MeterValues.req, which a charger sends every few seconds to minutes:
# listeners run in the charger's request and must be cheap and never raise.
meter_values_received = Signal()
# sender=Connector, connector=..., previous_status=...
connector_status_changed = Signal()

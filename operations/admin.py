"""Admin of operations: each part in a module of its own."""

from operations import (
    emergency_admin,  # noqa: F401  emergency stop actions on sites, the stops' audit
    maintenance_admin,  # noqa: F401  maintenance windows, inspection schedules
    support_admin,  # noqa: F401  support cases, answers to drivers, refunds
    ticket_admin,  # noqa: F401  tickets (faults, workflow, alerts), site technicians
    uptime_admin,  # noqa: F401  uptime report pages, excluded outages
)

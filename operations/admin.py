"""Admin of operations."""

# Uptime: the report pages and excluded outages.
from operations import uptime_admin  # noqa: F401

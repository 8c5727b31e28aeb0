"""Recording the drivers' station searches on a coarse grid (insights.models.SearchRecord).

The grid is what makes a search anonymous: 0.01° is about 1.1 km north-south and 0.6 km
east-west in Sweden, the scale at which site planning compares places.
"""

import math
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal

from insights.models import SearchRecord

GRID_DEGREES = Decimal("0.01")


def grid_cell(lat: float, lon: float) -> tuple[Decimal, Decimal]:
    """The south-west corner of the cell holding (lat, lon)."""
    return (
        Decimal(repr(lat)).quantize(GRID_DEGREES, ROUND_FLOOR),
        Decimal(repr(lon)).quantize(GRID_DEGREES, ROUND_FLOOR),
    )


def record(
    at: datetime, near: tuple[float, float] | None, connector_type: str, found_free: bool
) -> SearchRecord:
    """Store one search, its time cut to the hour and its position to the grid."""
    cell = grid_cell(*near) if near is not None and not math.isnan(sum(near)) else (None, None)
    return SearchRecord.objects.create(
        hour=at.replace(minute=0, second=0, microsecond=0),
        cell_latitude=cell[0],
        cell_longitude=cell[1],
        connector_type=connector_type,
        found_free=found_free,
    )

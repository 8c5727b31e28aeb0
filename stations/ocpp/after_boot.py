"""What a charger is told as soon as it has booted: asked of settings.OCPP_AFTER_BOOT.

Other apps decide what a charger that comes back must be told (operations: Inoperative
while a maintenance window or an emergency stop holds it); stations never imports them,
it asks the functions named in the setting, as it asks CHARGING_POLICIES about tokens.
The consumer sends the requests after its answer to the BootNotification: OCPP 1.6 §4.2
lets the central system send nothing before it, and a command sent while the consumer
is still handling the boot would wait for that very consumer.
"""

import logging
from functools import cache
from typing import Any, Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from stations.models import ChargePoint

logger = logging.getLogger(__name__)

# Recorded with the commands sent here (ChargerCommand.source).
SOURCE = "after boot"


class AfterBoot(Protocol):
    def __call__(self, charge_point: ChargePoint) -> list[Any]:
        """`ocpp.v16.call` requests to send, in order."""
        ...


@cache
def _hooks(paths: tuple[str, ...]) -> tuple[AfterBoot, ...]:
    return tuple(import_string(path) for path in paths)


def requests(charge_point: ChargePoint) -> list[Any]:
    """Every request the hooks want sent to this charger now that it has booted.

    A hook that fails is logged and skipped: the others still get their say.
    """
    wanted: list[Any] = []
    for hook in _hooks(tuple(settings.OCPP_AFTER_BOOT)):
        try:
            wanted.extend(hook(charge_point))
        except Exception:
            logger.exception("%s: after-boot hook %r failed", charge_point.charge_point_id, hook)
    return wanted

"""The one place that decides whether an id tag may charge (OCPP 1.6 IdTagInfo)."""

import logging
from collections.abc import Callable
from datetime import datetime
from functools import cache
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

from chargehub.compiled_queries import CompiledQuery
from stations.models import ChargePoint
from users.models import IdToken

logger = logging.getLogger(__name__)

# A policy takes a token and returns why it may not charge now, or None.
Policy = Callable[[IdToken], str | None]
# A charge point policy takes a charger and returns why nobody may start charging
# there now (its site is stopped in an emergency), or None.
ChargePointPolicy = Callable[[ChargePoint], str | None]


def normalize_id_tag(id_tag: str) -> str:
    # IdToken is a CiString in OCPP 1.6 (§7.18, case-insensitive): store and look up upper case.
    return id_tag.strip().upper()


# QuerySet.first() by the model's ordering; compiled once (every Authorize and start asks).
TOKEN = CompiledQuery(lambda uid: IdToken.objects.filter(uid=uid)[:1])


def find_token(id_tag: str) -> IdToken | None:
    return TOKEN.first(uid=normalize_id_tag(id_tag))


@cache
def _policies(paths: tuple[str, ...]) -> tuple[Callable[[Any], str | None], ...]:
    return tuple(import_string(path) for path in paths)


def policy_refusal(token: IdToken) -> str | None:
    """Why another app refuses this token (settings.CHARGING_POLICIES), or None.

    This is how billing says "unpaid" or "wallet empty" without stations knowing about
    billing: the dependency points from billing to stations, never back.
    """
    for policy in _policies(tuple(settings.CHARGING_POLICIES)):
        reason = policy(token)
        if reason:
            return reason
    return None


def charge_point_refusal(charge_point: ChargePoint) -> str | None:
    """Why nobody may start charging at this charger now (settings.CHARGE_POINT_POLICIES),
    or None.

    Asked for a charger's Authorize and StartTransaction and before a remote start
    (charging/start_stop.py); this is how operations says "the site is stopped in an
    emergency" without stations importing operations.
    """
    for policy in _policies(tuple(settings.CHARGE_POINT_POLICIES)):
        reason = policy(charge_point)
        if reason:
            return reason
    return None


def id_tag_info(
    id_tag: str, now: datetime, charge_point: ChargePoint | None = None
) -> dict[str, Any]:
    """IdTagInfo for Authorize, StartTransaction and StopTransaction answers.

    Unknown tags are Invalid; blocked ones Blocked; past their expiry date Expired; a
    token refused by a charging policy (unpaid sessions, an empty wallet) Blocked. With
    `charge_point` (a start there: Authorize, StartTransaction), a known token at a
    charger refused by a charge point policy is Blocked too: OCPP 1.6 §7.2 has no status
    for "not here, not now", and Blocked is the one that means "not allowed to charge"
    (Invalid would say the token is unknown).
    """
    return token_info(find_token(id_tag), now, charge_point)


def token_info(
    token: IdToken | None, now: datetime, charge_point: ChargePoint | None = None
) -> dict[str, Any]:
    """id_tag_info() for a token already looked up (None: unknown), saving the lookup."""
    if token is None:
        return {"status": "Invalid"}
    if token.status == IdToken.Status.BLOCKED:
        status = "Blocked"
    elif token.is_expired(now):
        status = "Expired"
    elif (reason := policy_refusal(token)) is not None:
        logger.info("Id tag %s refused: %s", token.uid, reason)
        status = "Blocked"
    elif charge_point is not None and (reason := charge_point_refusal(charge_point)):
        logger.info("Id tag %s refused at %s: %s", token.uid, charge_point.charge_point_id, reason)
        status = "Blocked"
    else:
        status = "Accepted"
    info: dict[str, Any] = {"status": status}
    if token.expires_at is not None:
        info["expiryDate"] = token.expires_at
    if token.group_id:
        info["parentIdTag"] = token.group_id
    return info

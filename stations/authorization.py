"""The one place that decides whether an id tag may charge (OCPP 1.6 IdTagInfo)."""

import logging
from collections.abc import Callable
from datetime import datetime
from functools import cache
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

from users.models import IdToken

logger = logging.getLogger(__name__)

# A policy takes a token and returns why it may not charge now, or None.
Policy = Callable[[IdToken], str | None]


def normalize_id_tag(id_tag: str) -> str:
    # IdToken is a CiString in OCPP 1.6 (§7.18, case-insensitive): store and look up upper case.
    return id_tag.strip().upper()


def find_token(id_tag: str) -> IdToken | None:
    return IdToken.objects.filter(uid=normalize_id_tag(id_tag)).first()


@cache
def _policies(paths: tuple[str, ...]) -> tuple[Policy, ...]:
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


def id_tag_info(id_tag: str, now: datetime) -> dict[str, Any]:
    """IdTagInfo for Authorize, StartTransaction and StopTransaction answers.

    Unknown tags are Invalid; blocked ones Blocked; past their expiry date Expired; a
    token refused by a charging policy (unpaid sessions, an empty wallet) Blocked.
    """
    token = find_token(id_tag)
    if token is None:
        return {"status": "Invalid"}
    if token.status == IdToken.Status.BLOCKED:
        status = "Blocked"
    elif token.is_expired(now):
        status = "Expired"
    elif (reason := policy_refusal(token)) is not None:
        logger.info("Id tag %s refused: %s", token.uid, reason)
        status = "Blocked"
    else:
        status = "Accepted"
    info: dict[str, Any] = {"status": status}
    if token.expires_at is not None:
        info["expiryDate"] = token.expires_at
    if token.group_id:
        info["parentIdTag"] = token.group_id
    return info

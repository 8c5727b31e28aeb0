"""The one place that decides whether an id tag may charge (OCPP 1.6 IdTagInfo)."""

from datetime import datetime
from typing import Any

from users.models import IdToken


def normalize_id_tag(id_tag: str) -> str:
    # IdToken is a CiString in OCPP 1.6 (§7.18, case-insensitive): store and look up upper case.
    return id_tag.strip().upper()


def find_token(id_tag: str) -> IdToken | None:
    return IdToken.objects.filter(uid=normalize_id_tag(id_tag)).first()


def id_tag_info(id_tag: str, now: datetime) -> dict[str, Any]:
    """IdTagInfo for Authorize, StartTransaction and StopTransaction answers.

    Unknown tags are Invalid; blocked ones Blocked; past their expiry date Expired.
    """
    token = find_token(id_tag)
    if token is None:
        return {"status": "Invalid"}
    if token.status == IdToken.Status.BLOCKED:
        status = "Blocked"
    elif token.is_expired(now):
        status = "Expired"
    else:
        status = "Accepted"
    info: dict[str, Any] = {"status": status}
    if token.expires_at is not None:
        info["expiryDate"] = token.expires_at
    if token.group_id:
        info["parentIdTag"] = token.group_id
    return info

"""Authorize (OCPP 1.6 §4.1) and the IdTagInfo every answer carries (§7.19)."""

from datetime import UTC, datetime, timedelta

from asgiref.sync import sync_to_async

from tests.stations.ocpp_wire import send
from users.models import IdToken


def token(uid: str, **fields) -> IdToken:
    return IdToken.objects.create(uid=uid, **fields)


async def test_authorize_known_token_is_accepted(charger):
    await sync_to_async(token)("AUTH-OK-1")
    async with charger("CP-AUTH-OK") as cp:
        answer = await send(cp, "Authorize", {"idTag": "AUTH-OK-1"})
    assert answer == {"idTagInfo": {"status": "Accepted"}}


async def test_authorize_id_tag_is_case_insensitive(charger):
    await sync_to_async(token)("AUTH-CASE-1")
    async with charger("CP-AUTH-CASE") as cp:
        answer = await send(cp, "Authorize", {"idTag": "auth-Case-1"})
    assert answer["idTagInfo"]["status"] == "Accepted"


async def test_authorize_gives_group_as_parent_id_tag_and_expiry_date_with_offset(charger):
    expires = datetime(2099, 1, 1, 12, 30, tzinfo=UTC)
    await sync_to_async(token)("AUTH-FLEET-1", group_id="FLEET-7", expires_at=expires)
    async with charger("CP-AUTH-FLEET") as cp:
        answer = await send(cp, "Authorize", {"idTag": "AUTH-FLEET-1"})
    info = answer["idTagInfo"]
    assert info["status"] == "Accepted"
    assert info["parentIdTag"] == "FLEET-7"
    assert info["expiryDate"].endswith("Z")
    assert datetime.fromisoformat(info["expiryDate"]) == expires


async def test_authorize_blocked_token_is_blocked(charger):
    await sync_to_async(token)("AUTH-BLOCKED-1", status=IdToken.Status.BLOCKED)
    async with charger("CP-AUTH-BLOCKED") as cp:
        answer = await send(cp, "Authorize", {"idTag": "AUTH-BLOCKED-1"})
    assert answer["idTagInfo"]["status"] == "Blocked"


async def test_authorize_token_past_its_expiry_date_is_expired(charger):
    expired = datetime.now(UTC) - timedelta(days=1)
    await sync_to_async(token)("AUTH-OLD-1", expires_at=expired)
    async with charger("CP-AUTH-OLD") as cp:
        answer = await send(cp, "Authorize", {"idTag": "AUTH-OLD-1"})
    assert answer["idTagInfo"]["status"] == "Expired"
    assert datetime.fromisoformat(answer["idTagInfo"]["expiryDate"]) == expired.replace(
        microsecond=expired.microsecond // 1000 * 1000
    )


async def test_authorize_unknown_token_is_invalid(charger):
    async with charger("CP-AUTH-UNKNOWN") as cp:
        answer = await send(cp, "Authorize", {"idTag": "NOBODY-1"})
    assert answer == {"idTagInfo": {"status": "Invalid"}}

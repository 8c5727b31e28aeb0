"""Authorize (OCPP 1.6 §4.1) and the IdTagInfo every answer carries (§7.19)."""

from datetime import UTC, datetime, timedelta

import pytest

from tests.stations.handling import handle
from users.models import IdToken

pytestmark = pytest.mark.django_db


def token(uid: str, **fields) -> IdToken:
    return IdToken.objects.create(uid=uid, **fields)


def test_authorize_known_token_is_accepted():
    token("AUTH-OK-1")
    answer = handle("CP-AUTH-OK", "Authorize", {"idTag": "AUTH-OK-1"})
    assert answer == {"idTagInfo": {"status": "Accepted"}}


def test_authorize_id_tag_is_case_insensitive():
    token("AUTH-CASE-1")
    answer = handle("CP-AUTH-CASE", "Authorize", {"idTag": "auth-Case-1"})
    assert answer["idTagInfo"]["status"] == "Accepted"


def test_authorize_gives_group_as_parent_id_tag_and_expiry_date_with_offset():
    expires = datetime(2099, 1, 1, 12, 30, tzinfo=UTC)
    token("AUTH-FLEET-1", group_id="FLEET-7", expires_at=expires)
    answer = handle("CP-AUTH-FLEET", "Authorize", {"idTag": "AUTH-FLEET-1"})
    info = answer["idTagInfo"]
    assert info["status"] == "Accepted"
    assert info["parentIdTag"] == "FLEET-7"
    assert info["expiryDate"].endswith("Z")
    assert datetime.fromisoformat(info["expiryDate"]) == expires


def test_authorize_blocked_token_is_blocked():
    token("AUTH-BLOCKED-1", status=IdToken.Status.BLOCKED)
    answer = handle("CP-AUTH-BLOCKED", "Authorize", {"idTag": "AUTH-BLOCKED-1"})
    assert answer["idTagInfo"]["status"] == "Blocked"


def test_authorize_token_past_its_expiry_date_is_expired():
    expired = datetime.now(UTC) - timedelta(days=1)
    token("AUTH-OLD-1", expires_at=expired)
    answer = handle("CP-AUTH-OLD", "Authorize", {"idTag": "AUTH-OLD-1"})
    assert answer["idTagInfo"]["status"] == "Expired"
    assert datetime.fromisoformat(answer["idTagInfo"]["expiryDate"]) == expired.replace(
        microsecond=expired.microsecond // 1000 * 1000
    )


def test_authorize_unknown_token_is_invalid():
    answer = handle("CP-AUTH-UNKNOWN", "Authorize", {"idTag": "NOBODY-1"})
    assert answer == {"idTagInfo": {"status": "Invalid"}}

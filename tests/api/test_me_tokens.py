"""/api/v1/me/tokens/: a driver's cards and app tokens."""

import pytest

from tests.billing.sessions import token_of
from users.models import IdToken

pytestmark = pytest.mark.django_db


def test_anonymous_gets_401(anonymous):
    assert anonymous.get("/api/v1/me/tokens/").status_code == 401
    assert anonymous.post("/api/v1/me/tokens/", {"name": "x"}).status_code == 401


def test_a_driver_lists_only_their_own_tokens(as_driver, driver, other_driver):
    token_of(driver, "MINE-1")
    token_of(other_driver, "THEIRS-1")

    results = as_driver.get("/api/v1/me/tokens/").json()["results"]

    assert [token["uid"] for token in results] == ["MINE-1"]


def test_create_an_app_token(as_driver, driver):
    response = as_driver.post("/api/v1/me/tokens/", {"name": "Phone"})

    assert response.status_code == 201, response.content
    created = response.json()
    assert created["type"] == "App"
    assert created["status"] == "Accepted"
    assert len(created["uid"]) == 20  # OCPP 1.6 CiString20
    assert IdToken.objects.get(uid=created["uid"]).owner == driver


def test_register_an_rfid_card(as_driver, driver):
    response = as_driver.post("/api/v1/me/tokens/", {"uid": " ab12cd34 ", "name": "Card"})

    assert response.status_code == 201, response.content
    assert response.json()["uid"] == "AB12CD34"
    assert response.json()["type"] == "RFID"


def test_a_card_someone_else_registered_is_refused(as_driver, other_driver):
    token_of(other_driver, "TAKEN-1")

    response = as_driver.post("/api/v1/me/tokens/", {"uid": "taken-1"})

    assert response.status_code == 400
    assert "uid" in response.json()
    assert IdToken.objects.get(uid="TAKEN-1").owner == other_driver


def test_block_and_unblock(as_driver, driver):
    token = token_of(driver, "LOST-1")

    blocked = as_driver.post(f"/api/v1/me/tokens/{token.pk}/block/")
    assert blocked.status_code == 200
    assert blocked.json()["status"] == "Blocked"
    token.refresh_from_db()
    assert token.status == IdToken.Status.BLOCKED

    assert as_driver.post(f"/api/v1/me/tokens/{token.pk}/unblock/").json()["status"] == "Accepted"
    token.refresh_from_db()
    assert token.status == IdToken.Status.ACCEPTED


def test_rename_but_not_change_the_id_tag(as_driver, driver):
    token = token_of(driver, "RENAME-1")

    assert as_driver.patch(f"/api/v1/me/tokens/{token.pk}/", {"name": "Blue"}).status_code == 200
    assert as_driver.patch(f"/api/v1/me/tokens/{token.pk}/", {"uid": "OTHER"}).status_code == 400
    token.refresh_from_db()
    assert (token.uid, token.name) == ("RENAME-1", "Blue")


def test_another_drivers_token_is_not_found(as_driver, other_driver):
    theirs = token_of(other_driver, "THEIRS-2")

    assert as_driver.get(f"/api/v1/me/tokens/{theirs.pk}/").status_code == 404
    assert as_driver.post(f"/api/v1/me/tokens/{theirs.pk}/block/").status_code == 404
    assert as_driver.patch(f"/api/v1/me/tokens/{theirs.pk}/", {"name": "Mine"}).status_code == 404
    theirs.refresh_from_db()
    assert (theirs.status, theirs.name) == (IdToken.Status.ACCEPTED, "")

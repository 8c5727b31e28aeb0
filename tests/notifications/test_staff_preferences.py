"""Staff choose their own alerts: on "My account → Notifications" and
GET/PUT /api/v1/me/notifications/ they see the staff alerts they hear (by role), with
channels, and the daily digest (Preferences.staff_digest); delivery follows their choice.
Drivers see and may choose what they did before."""

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from rest_framework.test import APIClient

from billing.models import BillingAccount
from billing.signals import payer_blocked
from notifications import preferences
from notifications.models import DigestItem, OutboxMessage, Preferences
from users.models import User
from users.roles import FINANCE, TECHNICIAN

pytestmark = pytest.mark.django_db

URL = "/api/v1/me/notifications/"
PAGE = "/account/notifications/"


def member(make_user, role: str, **fields) -> User:
    user = make_user(language="en", **fields)
    user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


def api_as(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_finance_staff_see_and_choose_their_alerts_and_the_digest(api, make_user):
    finance = member(make_user, FINANCE.name, is_staff=True)
    client = api_as(finance)

    shown = client.get(URL).json()
    assert shown["channels"]["payer_blocked"] == ["email"]
    assert shown["channels"]["webhook_disabled"] == ["email"]  # staff own endpoints
    assert shown["staff_digest"] is False
    assert "payer_blocked" in [kind["kind"] for kind in shown["kinds"]]

    chosen = client.put(
        URL, {"channels": {"payer_blocked": ["portal"]}, "staff_digest": True}, format="json"
    )
    assert chosen.status_code == 200
    assert chosen.json()["channels"]["payer_blocked"] == ["portal"]
    assert chosen.json()["staff_digest"] is True
    assert Preferences.objects.get(user=finance).staff_digest

    # A staff alert must reach them: at least one channel.
    none = client.put(URL, {"channels": {"payer_blocked": []}}, format="json")
    assert none.status_code == 400
    assert "keep at least one channel" in str(none.json())

    # The driver next to them sees what drivers always saw.
    driven = api.get(URL).json()
    assert "payer_blocked" not in driven["channels"] and "staff_digest" not in driven


def test_only_the_alerts_of_ones_role_and_no_digest_for_drivers(api, make_user):
    staff_kind = api.put(URL, {"channels": {"payer_blocked": ["email"]}}, format="json")
    assert staff_kind.status_code == 400
    refused = api.put(URL, {"staff_digest": True}, format="json")
    assert refused.status_code == 400
    assert "staff_digest" in refused.json()
    assert not Preferences.objects.exists()

    # A technician (not staff in admin) takes the digest, but not Finance's alerts.
    technician = api_as(member(make_user, TECHNICIAN.name))
    assert "payer_blocked" not in technician.get(URL).json()["channels"]
    wrong = technician.put(URL, {"channels": {"payer_blocked": ["email"]}}, format="json")
    assert wrong.status_code == 400
    assert technician.put(URL, {"staff_digest": True}, format="json").status_code == 200


def test_technicians_choose_the_channels_of_their_ticket_alerts(api, make_user):
    technician = api_as(member(make_user, TECHNICIAN.name))
    assert technician.get(URL).json()["channels"]["ticket_alerts"] == ["email"]
    chosen = technician.put(URL, {"channels": {"ticket_alerts": ["portal"]}}, format="json")
    assert chosen.status_code == 200
    assert chosen.json()["channels"]["ticket_alerts"] == ["portal"]
    none = technician.put(URL, {"channels": {"ticket_alerts": []}}, format="json")
    assert none.status_code == 400  # a ticket alert must reach them

    # Drivers and Finance do not hear of tickets.
    assert "ticket_alerts" not in api.get(URL).json()["channels"]
    refused = api.put(URL, {"channels": {"ticket_alerts": ["email"]}}, format="json")
    assert refused.status_code == 400
    finance = api_as(member(make_user, FINANCE.name, is_staff=True))
    assert "ticket_alerts" not in finance.get(URL).json()["channels"]


def test_the_page_shows_staff_their_alerts_and_saves_the_digest(make_user, driver_client):
    finance = member(make_user, FINANCE.name, is_staff=True)
    client = Client()
    client.force_login(finance)

    page = client.get(PAGE)
    assert page.status_code == 200
    assert "Payer blocked by failed payments" in page.content.decode()
    assert 'name="staff_digest"' in page.content.decode()
    form = page.context["form"]
    data = {name: "on" for name, field in form.fields.items() if field.initial is True}
    del data["payer_blocked__email"]
    data |= {"payer_blocked__portal": "on", "staff_digest": "on"}

    assert client.post(PAGE, data).status_code == 302
    saved = Preferences.objects.get(user=finance)
    assert saved.staff_digest
    assert preferences.chosen(saved, preferences.PAYER_BLOCKED) == {"portal"}

    data.pop("payer_blocked__portal")  # left without a channel
    assert client.post(PAGE, data).status_code == 400

    driven = driver_client.get(PAGE).content.decode()
    assert "Payer blocked" not in driven and 'name="staff_digest"' not in driven


def test_a_blocked_payer_reaches_finance_on_the_channels_they_chose(
    make_user, driver, mailoutbox, django_capture_on_commit_callbacks
):
    in_portal = member(make_user, FINANCE.name, is_staff=True)
    Preferences.objects.create(user=in_portal, channels={"payer_blocked": ["portal"]})
    both = member(make_user, FINANCE.name, is_staff=True)
    Preferences.objects.create(
        user=both, channels={"payer_blocked": ["email", "portal"]}, staff_digest=True
    )
    account = BillingAccount.objects.create(
        user=driver, payment_method=BillingAccount.PaymentMethod.CARD
    )

    with django_capture_on_commit_callbacks(execute=True):
        payer_blocked.send(sender=BillingAccount, account=account)

    rows = OutboxMessage.objects.order_by("recipient_id", "channel")
    assert [(row.recipient, row.channel) for row in rows] == [
        (in_portal, "portal"),
        (both, "portal"),
    ]
    assert {row.state for row in rows} == {OutboxMessage.State.SENT}  # in their lists
    assert mailoutbox == []  # nobody chose email now; `both` gets it in the digest
    assert list(DigestItem.objects.values_list("user", flat=True)) == [both.pk]

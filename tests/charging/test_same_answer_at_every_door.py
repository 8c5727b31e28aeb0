"""The driver's actions answer the same through the portal's forms and the API: the
same drivers, the same outcome (accepted or refused), the same status and reason.

A start or reservation the rules accept goes on to the charger; the chargers here are
offline, so "accepted" shows as the offline charger's answer, and a refusal by money
as 403 with billing's reason, before any command is sent.
"""

# The localstripe fixtures are imported from tests/billing/conftest.py; pytest finds
# them by the argument names, which ruff reads as redefinitions.
# ruff: noqa: F811

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from itertools import count

import pytest
from asgiref.sync import sync_to_async
from django.test import Client
from django.urls import reverse
from django.utils.html import escape
from rest_framework.test import APIClient

from billing.models import BillingAccount, CustomerGroup
from billing.wallet import credit_wallet_manually
from stations.models import ChargerCommand, Connector, Site
from tests.billing.conftest import (  # noqa: F401 (fixtures)
    localstripe_url,
    saved_card,
    stripe_configured,
)
from tests.billing.guest_charging import connector_of, report_status
from tests.billing.test_standing import failed_charge
from tests.portal.places import first_connector, place, token_of
from users.models import User

Method = BillingAccount.PaymentMethod
OFFLINE = (502, "The charger is offline right now.")
WALLET_SHORT = (403, "The wallet holds 10.00 SEK; at least 50 SEK is needed to start.")
UNPAID = (403, "Unpaid charging sessions: 2 failed card payments.")

_numbers = count(1)


def _driver(kind: str) -> User:
    driver = User.objects.create_user(f"door-{kind}-{next(_numbers)}@example.com", "pw")
    if kind == "guest only":
        return driver  # has only paid at a charger's QR code: no account, no token
    token_of(driver)
    if kind.startswith("wallet under minimum"):
        BillingAccount.objects.create(user=driver, payment_method=Method.WALLET)
        staff = User.objects.create_user(f"staff-{driver.email}", is_staff=True)
        credit_wallet_manually(driver, Decimal(10), staff=staff, reason="test")
        if kind.endswith("with card"):
            saved_card(driver)
    elif kind == "blocked card":
        BillingAccount.objects.create(user=driver, payment_method=Method.CARD)
        failed_charge(driver, attempts=2)
    elif kind == "fleet driver":
        fleet = CustomerGroup.objects.create(name=f"Fleet {driver.pk}", kind="fleet")
        BillingAccount.objects.create(fleet=fleet, payment_method=Method.INVOICE)
        fleet.members.add(driver)
    return driver


def _portal(driver: User) -> Client:
    client = Client()
    client.force_login(driver)
    return client


def _api(driver: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(driver)
    return client


def _portal_answer(response) -> tuple[int, str]:
    return response.status_code, response.content.decode()


def _api_answer(response) -> tuple[int, str]:
    return response.status_code, response.json()["detail"]


# (driver, how they pay for the start (None: the account's own method), the start's
# answer, the reservation's answer)
DRIVERS = [
    ("wallet under minimum", None, WALLET_SHORT, WALLET_SHORT),
    # A card lets them start, and so reserve: the API used to refuse (403).
    ("wallet under minimum with card", Method.CARD, OFFLINE, OFFLINE),
    ("blocked card", None, UNPAID, UNPAID),
    ("fleet driver", None, OFFLINE, OFFLINE),
    # Starts with a new App token at both doors; the API used to answer 409.
    ("guest only", None, OFFLINE, OFFLINE),
]


@pytest.fixture
def offered_wallet_and_card(settings) -> None:
    # The operator offers no invoice: a low wallet without a card then stops everything.
    settings.BILLING_DRIVER_PAYMENT_METHODS = ["wallet", "card"]


@pytest.mark.django_db(transaction=True)  # commands record themselves from another thread
@pytest.mark.parametrize(("kind", "method", "start_answer", "reserve_answer"), DRIVERS)
def test_a_driver_gets_the_same_answer_from_the_portal_and_the_api(
    kind: str,
    method: str | None,
    start_answer: tuple[int, str],
    reserve_answer: tuple[int, str],
    offered_wallet_and_card: None,
    stripe_configured: str,
) -> None:
    connector = first_connector(place(f"Doors {kind}", online=False))
    payment = {"payment": method} if method else {}
    answers: dict[str, list[tuple[int, str]]] = {"start": [], "reserve": []}
    for door in ("portal", "api"):
        driver = _driver(kind)  # one each: a door's start leaves an App token behind
        if door == "portal":
            answers["start"].append(
                _portal_answer(
                    _portal(driver).post(
                        reverse("portal:start"), {"connector": connector.pk, **payment}
                    )
                )
            )
            answers["reserve"].append(
                _portal_answer(
                    _portal(driver).post(
                        reverse("portal:reserve"), {"connector": connector.pk, "minutes": 15}
                    )
                )
            )
        else:
            body = {"connector": connector.pk}
            if method:
                body["payment_method"] = method
            answers["start"].append(
                _api_answer(_api(driver).post("/api/v1/me/sessions/start/", body, format="json"))
            )
            answers["reserve"].append(
                _api_answer(
                    _api(driver).post(
                        "/api/v1/me/reservations/",
                        {"connector": connector.pk, "minutes": 15},
                        format="json",
                    )
                )
            )

    for action, expected in (("start", start_answer), ("reserve", reserve_answer)):
        (portal_status, page), (api_status, detail) = answers[action]
        assert (portal_status, api_status) == (expected[0], expected[0]), action
        assert detail == expected[1], action
        assert escape(expected[1]) in page, action
    # Money refuses before the charger is asked; otherwise both doors asked it, twice.
    sent = ChargerCommand.objects.count()
    assert sent == (0 if start_answer[0] == 403 else 4)


def _api_starts(driver: User, connector: Connector) -> tuple[int, str]:
    return _api_answer(
        _api(driver).post("/api/v1/me/sessions/start/", {"connector": connector.pk}, format="json")
    )


def _portal_starts(driver: User, connector: Connector) -> tuple[int, str]:
    return _portal_answer(
        _portal(driver).post(reverse("portal:start"), {"connector": connector.pk})
    )


def _invoice_driver() -> User:
    driver = User.objects.create_user(f"door-timeout-{next(_numbers)}@example.com", "pw")
    BillingAccount.objects.create(user=driver, payment_method=Method.INVOICE)
    token_of(driver)
    return driver


async def test_a_charger_that_does_not_answer_is_504_with_the_same_message_at_both_doors(
    charger: Callable, settings
) -> None:
    settings.OCPP_COMMAND_TIMEOUT = 1
    here = await sync_to_async(Site.objects.create)(name="Doors silent")
    async with charger("DOORS-SILENT", site=here) as cp:
        await cp.boot()
        await report_status(cp)
        connector = await sync_to_async(connector_of)("DOORS-SILENT")
        driver = await sync_to_async(_invoice_driver)()
        cp.answers["RemoteStartTransaction"] = "silence"

        status, page = await sync_to_async(_portal_starts)(driver, connector)
        api_status, detail = await sync_to_async(_api_starts)(driver, connector)

    assert (status, api_status) == (504, 504)
    assert detail == "The charger did not answer in time."
    assert detail in page


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"status": "Blocked"}, "That token is blocked."),
        ({"expires_at": datetime(2025, 1, 1, tzinfo=UTC)}, "That token has expired."),
    ],
    ids=["blocked", "expired"],
)
def test_a_named_token_of_the_drivers_own_that_cannot_charge_is_the_same_409_at_both_doors(
    fields: dict[str, object], message: str
) -> None:
    driver = User.objects.create_user(f"door-token-{next(_numbers)}@example.com", "pw")
    token = token_of(driver, **fields)
    connector = first_connector(place("Doors token"))
    portal, api = _portal(driver), _api(driver)
    named = {"connector": connector.pk, "minutes": 15}

    answers = {
        "start": [
            _portal_answer(portal.post(reverse("portal:start"), {**named, "token": token.pk})),
            _api_answer(api.post("/api/v1/me/sessions/start/", {**named, "id_token": token.uid})),
        ],
        "reserve": [
            _portal_answer(portal.post(reverse("portal:reserve"), {**named, "token": token.pk})),
            _api_answer(api.post("/api/v1/me/reservations/", {**named, "id_token": token.uid})),
        ],
    }

    for action, ((portal_status, page), (api_status, detail)) in answers.items():
        assert (portal_status, api_status) == (409, 409), action
        assert detail == message, action
        assert escape(message) in page, action
    assert not ChargerCommand.objects.exists()

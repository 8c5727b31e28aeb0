"""A driver whose saved card expires this month or next is told once per card and expiry
how to save a new one (notifications/events.py tell_cards_expiring, a daily beat task;
the card as dj-stripe keeps it, billing/payments.py expiring_cards). Cards are saved at
localstripe, as the portal saves them."""

from datetime import date

import pytest
import stripe
from django.utils import timezone

from notifications import tasks
from notifications.events import tell_cards_expiring
from notifications.models import Notification, OutboxMessage
from tests.billing.conftest import (  # noqa: F401 (fixtures)
    SECRET_KEY,
    localstripe_url,
    saved_card,
    stripe_configured,
)
from users.models import User

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("stripe_configured")]


def card_expiring(user: User, month: int, year: int) -> str:
    """Save a Visa card with this expiry for the driver; its payment method id."""
    payment_method = stripe.PaymentMethod.create(
        type="card",
        card={"number": "4242424242424242", "exp_month": month, "exp_year": year, "cvc": "123"},
        api_key=SECRET_KEY,
    )
    return saved_card(user, payment_method.id)


def told(user: User) -> list[tuple[str, str]]:
    rows = OutboxMessage.objects.filter(recipient=user, kind="card_expiring")
    return sorted(rows.values_list("channel", "state"))


def test_a_card_expiring_next_month_is_told_once_with_the_way_to_fix_it(make_user, mailoutbox):
    driver = make_user(language="en")
    card_expiring(driver, 1, 2027)
    later = make_user(language="en")
    card_expiring(later, 3, 2027)

    assert tell_cards_expiring(date(2026, 11, 30)) == 0  # January is two months away
    assert tell_cards_expiring(date(2026, 12, 1)) == 2  # email and portal
    assert tell_cards_expiring(date(2026, 12, 2)) == 0  # the next day
    assert tell_cards_expiring(date(2027, 1, 15)) == 0  # the month it expires

    assert told(driver) == [("email", "sent"), ("portal", "sent")]
    assert told(later) == []
    [mail] = mailoutbox
    assert mail.to == [driver.email]
    assert mail.subject == "Your card ending 4242 expires soon"
    assert "Your Visa card ending 4242 expires at the end of 01/2027." in mail.body
    assert "Save a new card in the portal:\nhttp" in mail.body
    assert "/account/card/" in mail.body
    assert "/account/card/" in mail.alternatives[0][0]  # the HTML part, with the link
    assert mail.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    [notice] = Notification.objects.filter(user=driver)
    assert notice.url.endswith("/account/card/")


def test_the_daily_task_twice_tells_a_swedish_driver_once(make_user, mailoutbox):
    driver = make_user(language="sv")
    today = timezone.localdate()
    card_expiring(driver, today.month, today.year)  # expires at the end of this month

    assert tasks.tell_cards_expiring.delay().get() == 2
    assert tasks.tell_cards_expiring.delay().get() == 0

    [mail] = mailoutbox
    assert mail.subject == "Ditt kort som slutar på 4242 går snart ut"
    assert f"går ut i slutet av {today.month:02d}/{today.year}" in mail.body


def test_a_new_card_that_lasts_ends_the_reminders(make_user, mailoutbox):
    driver = make_user(language="en")
    card_expiring(driver, 12, 2026)
    card_expiring(driver, 12, 2030)  # saved before the reminder: now the default card

    assert tell_cards_expiring(date(2026, 12, 1)) == 0
    assert mailoutbox == []

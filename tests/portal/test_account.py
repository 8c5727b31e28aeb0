import csv
import io
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.models import BillingAccount, Invoice, SessionCharge
from billing.wallet import credit_wallet_manually
from tests.portal.places import first_connector, place, session_of, token_of
from users.models import IdToken

pytestmark = pytest.mark.django_db


def _invoice(account: BillingAccount, number: int) -> Invoice:
    return Invoice.objects.create(
        kind=Invoice.Kind.RECEIPT,
        series="K",
        number=number,
        issued_at="2026-01-05T10:00:00Z",
        account=account,
        net=Decimal("8.00"),
        vat=Decimal("2.00"),
        gross=Decimal("10.00"),
    )


def test_account_shows_wallet_cards_history_and_own_invoices(driver, driver_client, make_user):
    staff = make_user(is_staff=True)
    credit_wallet_manually(driver, Decimal("120.50"), staff=staff, reason="cash")
    card = token_of(driver, name="Blue card")
    session = session_of(card, first_connector(place("History")), wh=7_500)
    mine = _invoice(BillingAccount.objects.create(user=driver), 901)
    theirs = _invoice(BillingAccount.objects.create(user=make_user()), 902)

    response = driver_client.get(reverse("portal:account"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "120.50\u00a0SEK" in page and "Manual credit by staff" in page
    assert card.uid in page and "Blue card" in page
    assert reverse("portal:session", args=[session.pk]) in page and "7.50" in page
    assert reverse("billing:invoice-pdf", args=[mine.pk]) in page
    assert reverse("billing:invoice-pdf", args=[theirs.pk]) not in page
    assert reverse("portal:sessions-csv") in page


def test_staff_account_page_lists_only_their_own_documents(make_user, client):
    staff = make_user(is_staff=True, is_superuser=True)
    other = _invoice(BillingAccount.objects.create(user=make_user()), 903)
    client.force_login(staff)
    page = client.get(reverse("portal:account")).content.decode()
    assert reverse("billing:invoice-pdf", args=[other.pk]) not in page


def test_adding_a_card_stores_it_upper_case_as_the_drivers_rfid(driver, driver_client):
    response = driver_client.post(reverse("portal:account"), {"uid": " ab12cd ", "name": "Work"})
    assert response.status_code == 302
    token = IdToken.objects.get(owner=driver)
    assert (token.uid, token.name, token.type) == ("AB12CD", "Work", IdToken.Type.RFID)
    assert token.status == IdToken.Status.ACCEPTED


def test_a_card_already_registered_is_a_form_error_whatever_its_case(
    driver, driver_client, make_user
):
    token_of(make_user(), uid="TAKEN1")
    response = driver_client.post(reverse("portal:account"), {"uid": "taken1", "name": ""})
    assert response.status_code == 400
    assert "This card is already registered." in response.content.decode()
    assert not IdToken.objects.filter(owner=driver).exists()


@pytest.mark.parametrize("uid", ["", "   ", "X" * 21])
def test_a_bad_card_number_is_a_form_error(driver, driver_client, uid):
    response = driver_client.post(reverse("portal:account"), {"uid": uid, "name": ""})
    assert response.status_code == 400
    assert 'class="errorlist' in response.content.decode()
    assert not IdToken.objects.filter(owner=driver).exists()


def test_a_driver_blocks_and_unblocks_their_card(driver, driver_client):
    card = token_of(driver)
    response = driver_client.post(reverse("portal:token-block", args=[card.pk]))
    assert response.status_code == 302
    card.refresh_from_db()
    assert card.status == IdToken.Status.BLOCKED
    driver_client.post(reverse("portal:token-unblock", args=[card.pk]))
    card.refresh_from_db()
    assert card.status == IdToken.Status.ACCEPTED


def test_another_drivers_card_cannot_be_blocked(driver_client, make_user):
    theirs = token_of(make_user())
    assert driver_client.post(reverse("portal:token-block", args=[theirs.pk])).status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == IdToken.Status.ACCEPTED


def test_a_driver_renames_their_card(driver, driver_client):
    card = token_of(driver, name="Blue card")
    page = driver_client.get(reverse("portal:account")).content.decode()
    assert reverse("portal:token-rename", args=[card.pk]) in page
    response = driver_client.post(
        reverse("portal:token-rename", args=[card.pk]), {"name": "Work car"}
    )
    assert response.status_code == 302
    card.refresh_from_db()
    assert card.name == "Work car"


def test_a_too_long_card_name_is_refused_with_a_message(driver, driver_client):
    card = token_of(driver, name="Blue card")
    response = driver_client.post(
        reverse("portal:token-rename", args=[card.pk]), {"name": "x" * 101}
    )
    assert response.status_code == 400
    assert "at most 100 characters" in response.content.decode()
    card.refresh_from_db()
    assert card.name == "Blue card"


def test_another_drivers_card_cannot_be_renamed(driver_client, make_user):
    theirs = token_of(make_user(), name="Theirs")
    response = driver_client.post(
        reverse("portal:token-rename", args=[theirs.pk]), {"name": "Mine now"}
    )
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.name == "Theirs"


def test_renaming_needs_post_and_a_login(driver, driver_client, client):
    card = token_of(driver)
    url = reverse("portal:token-rename", args=[card.pk])
    assert driver_client.get(url).status_code == 405
    response = client.post(url, {"name": "Anon"})
    assert response.status_code == 302
    assert "login" in response["Location"]


def test_blocking_needs_post(driver, driver_client):
    card = token_of(driver)
    assert driver_client.get(reverse("portal:token-block", args=[card.pk])).status_code == 405


def test_sessions_csv_has_every_own_session_with_energy_and_cost(driver, driver_client, make_user):
    site = place("CSV site", connectors=(("Type2", "22", "Available"),) * 3)
    connectors = list(site.charge_points.get().connectors.order_by("connector_id"))
    card = token_of(driver)
    paid = session_of(card, connectors[0], wh=12_000)
    SessionCharge.objects.create(
        session=paid,
        method=SessionCharge.Method.WALLET,
        status=SessionCharge.Status.PAID,
        gross=Decimal("43.75"),
        priced_at=timezone.now(),
    )
    running = session_of(card, connectors[1], active=True)
    session_of(token_of(make_user()), connectors[2], wh=1)

    response = driver_client.get(reverse("portal:sessions-csv"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][0] == "Session" and len(rows) == 3
    by_id = {row[0]: row for row in rows[1:]}
    assert set(by_id) == {str(paid.pk), str(running.pk)}
    assert by_id[str(paid.pk)][3] == site.name
    assert by_id[str(paid.pk)][7:10] == ["12.000", "43.75", "SEK"]
    assert by_id[str(running.pk)][2] == "" and by_id[str(running.pk)][7] == ""


def test_sessions_csv_does_not_let_a_name_run_as_a_formula(driver, driver_client):
    site = place("=HYPERLINK(1)")
    session_of(token_of(driver), first_connector(site))
    rows = list(
        csv.reader(io.StringIO(driver_client.get(reverse("portal:sessions-csv")).content.decode()))
    )
    assert rows[1][3].startswith("'=HYPERLINK(1)")


def test_account_page_reads_a_fixed_number_of_queries(
    driver, driver_client, django_assert_max_num_queries
):
    site = place("Many", connectors=(("Type2", "22", "Available"),) * 20)
    card = token_of(driver)
    for connector in site.charge_points.get().connectors.all():
        session_of(card, connector)
    with django_assert_max_num_queries(12):
        response = driver_client.get(reverse("portal:account"))
    assert len(response.context["sessions"]) == 20

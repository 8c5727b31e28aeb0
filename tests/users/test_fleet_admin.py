"""A business customer in admin: the fleet group shows its drivers' cards and the account
that pays for all of them (billing/admin.py CustomerGroupAdmin)."""

import pytest
from django.urls import reverse

from billing.models import BillingAccount, CustomerGroup
from users.models import IdToken, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def fleet() -> CustomerGroup:
    group = CustomerGroup.objects.create(name="Åkeri Öst", kind=CustomerGroup.Kind.FLEET)
    for number, email in enumerate(["anna@akeri.se", "bo@akeri.se"], start=1):
        driver = User.objects.create_user(email, "x")
        group.members.add(driver)
        IdToken.objects.create(uid=f"FLEET-{number}", name=f"Truck {number}", owner=driver)
    outsider = User.objects.create_user("someone@example.com", "x")
    IdToken.objects.create(uid="NOT-IN-FLEET", owner=outsider)
    return group


def group_page(admin_client, group: CustomerGroup) -> str:
    response = admin_client.get(reverse("admin:billing_customergroup_change", args=[group.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_the_fleet_page_lists_its_drivers_cards(admin_client, fleet):
    page = group_page(admin_client, fleet)
    for token in IdToken.objects.filter(uid__startswith="FLEET-"):
        assert reverse("admin:users_idtoken_change", args=[token.pk]) in page
        assert token.owner.email in page
    assert "Truck 2" in page
    assert "NOT-IN-FLEET" not in page


def test_the_fleet_page_links_the_account_that_pays(admin_client, fleet):
    account = BillingAccount.objects.create(
        fleet=fleet, name="Åkeri Öst AB", payment_method=BillingAccount.PaymentMethod.INVOICE
    )
    page = group_page(admin_client, fleet)
    assert reverse("admin:billing_billingaccount_change", args=[account.pk]) in page
    assert "Åkeri Öst AB" in page


def test_a_fleet_without_an_account_offers_to_add_one(admin_client, fleet):
    page = group_page(admin_client, fleet)
    assert f"{reverse('admin:billing_billingaccount_add')}?fleet={fleet.pk}" in page
    add_form = admin_client.get(reverse("admin:billing_billingaccount_add"), {"fleet": fleet.pk})
    assert add_form.context["adminform"].form.initial["fleet"] == str(fleet.pk)

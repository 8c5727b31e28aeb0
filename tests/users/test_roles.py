"""Staff roles (users/roles.py, `manage.py setup_roles`): what each role may do in the
admin, checked on the pages and actions themselves."""

from io import StringIO

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from billing import invoicing
from stations.models import ChargePoint
from tests.billing.invoicing_data import MARCH, driver_account, priced, utc
from users import roles
from users.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def set_up_roles() -> None:
    call_command("setup_roles", stdout=StringIO())


@pytest.fixture
def staff_in(set_up_roles):
    """A logged-in member of staff with one role, and their browser."""

    def make(role: roles.Role) -> Client:
        user = User.objects.create_user(f"{role.name.lower()}@example.com", "x", is_staff=True)
        user.groups.add(Group.objects.get(name=role.name))
        client = Client()
        client.force_login(user)
        return client

    return make


@pytest.fixture
def charge_point() -> ChargePoint:
    return ChargePoint.objects.create(charge_point_id="CP-ROLES")


@pytest.fixture
def invoice():
    customer = User.objects.create_user("customer@example.com", "x")
    account = driver_account(customer, name="Kund AB", email="customer@example.com")
    priced(account, stopped_at=utc(2026, 3, 3, 12), net="30.00", vat="7.50")
    return invoicing.issue_monthly_invoice(account, MARCH)


def offered_actions(client: Client, model: str) -> set[str]:
    response = client.get(reverse(f"admin:stations_{model}_changelist"))
    assert response.status_code == 200
    form = response.context["action_form"]
    if form is None:  # no action at all for this user
        return set()
    return {name for name, _label in form.fields["action"].choices if name}


def choose_reset(client: Client, charge_point: ChargePoint):
    """Choose "Reset…" for a charger: its page asking Soft or Hard, if allowed."""
    return client.post(
        reverse("admin:stations_chargepoint_changelist"),
        {"action": "reset", "_selected_action": [charge_point.pk]},
    )


def credit_url(invoice) -> str:
    return reverse("admin:billing_invoice_credit", args=[invoice.pk])


WALLET_CREDIT = "admin:billing_walletentry_credit"


def group_permissions() -> dict[str, set[str]]:
    return {
        group.name: set(group.permissions.values_list("codename", flat=True))
        for group in Group.objects.prefetch_related("permissions")
    }


def test_setup_roles_creates_one_group_per_role_and_can_run_again(set_up_roles):
    first = group_permissions()
    assert set(first) == {role.name for role in roles.ROLES}
    # A permission added by hand is taken away again: the roles are defined in code.
    technician = Group.objects.get(name=roles.TECHNICIAN.name)
    technician.permissions.add(
        Permission.objects.get(codename="add_invoice", content_type__app_label="billing")
    )

    call_command("setup_roles", stdout=StringIO())
    assert group_permissions() == first
    assert Group.objects.count() == len(roles.ROLES)


def test_operator_admin_has_every_permission(set_up_roles):
    assert group_permissions()[roles.OPERATOR_ADMIN.name] == set(
        Permission.objects.values_list("codename", flat=True)
    )
    assert group_permissions()[roles.DRIVER.name] == set()


def test_a_grant_that_matches_nothing_is_an_error():
    role = roles.Role("Typo", "", ("stations.reboot_everything",))
    with pytest.raises(roles.UnknownPermission):
        roles.permissions_for(role, list(Permission.objects.all()))


def test_a_technician_may_reset_chargers(staff_in, charge_point):
    technician = staff_in(roles.TECHNICIAN)
    assert {"reset", "remote_start", "unlock_connector"} <= offered_actions(
        technician, "chargepoint"
    )
    assert "remote_stop" in offered_actions(technician, "chargingsession")
    page = choose_reset(technician, charge_point)
    assert page.status_code == 200
    assert "admin/stations/command_form.html" in [t.name for t in page.templates]
    assert (
        technician.get(
            reverse("admin:stations_chargepoint_change", args=[charge_point.pk])
        ).status_code
        == 200
    )


def test_a_technician_cannot_refund_or_credit_wallets(staff_in, invoice):
    technician = staff_in(roles.TECHNICIAN)
    assert technician.get(credit_url(invoice)).status_code == 403
    assert technician.post(credit_url(invoice), {"reason": "x"}).status_code == 403
    assert technician.get(reverse(WALLET_CREDIT)).status_code == 403
    assert technician.get(reverse("admin:billing_invoice_changelist")).status_code == 403


def test_finance_may_credit_invoices_and_wallets(staff_in, invoice):
    finance = staff_in(roles.FINANCE)
    page = finance.get(credit_url(invoice))
    assert page.status_code == 200
    assert "form" in page.context
    assert finance.get(reverse(WALLET_CREDIT)).status_code == 200


def test_finance_cannot_send_commands_to_chargers(staff_in, charge_point):
    finance = staff_in(roles.FINANCE)
    offered = offered_actions(finance, "chargepoint")
    assert not offered & {"reset", "remote_start", "unlock_connector", "change_configuration"}
    assert "remote_stop" not in offered_actions(finance, "chargingsession")
    page = choose_reset(finance, charge_point)
    # Not an action this user has: the admin says "no action selected" and stays put.
    assert page.status_code == 302
    assert (
        finance.get(
            reverse("admin:stations_chargepoint_change", args=[charge_point.pk])
        ).status_code
        == 200
    )  # may still look


def test_support_sees_billing_and_edits_cards_but_neither_refunds_nor_resets(
    staff_in, charge_point, invoice
):
    support = staff_in(roles.SUPPORT)
    assert "reset" not in offered_actions(support, "chargepoint")
    assert support.get(credit_url(invoice)).status_code == 403
    assert support.get(reverse(WALLET_CREDIT)).status_code == 403
    invoice_page = support.get(reverse("admin:billing_invoice_change", args=[invoice.pk]))
    assert invoice_page.status_code == 200
    changelist = support.get(reverse("admin:billing_invoice_changelist"))
    offered = {name for name, _ in changelist.context["action_form"].fields["action"].choices}
    assert "email_again" in offered
    assert support.get(reverse("admin:users_idtoken_add")).status_code == 403
    assert support.get(reverse("admin:users_idtoken_changelist")).status_code == 200


def test_a_driver_has_no_admin(set_up_roles):
    driver = User.objects.create_user("driver@example.com", "x")
    driver.groups.add(Group.objects.get(name=roles.DRIVER.name))
    client = Client()
    client.force_login(driver)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]

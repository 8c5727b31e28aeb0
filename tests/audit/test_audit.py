"""The audit (audit/): every staff change to a charger, a site, a tariff, a token, money
or a user, in admin and through the staff API, is recorded with who, when, what, before
and after; records are read-only, and only operator admins see and export them."""

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from audit.models import AuditRecord
from billing import settlement
from billing.models import BillingAccount, Invoice
from billing.wallet import credit_wallet_manually
from stations.models import ChargePoint, ChargerCertificate, Site
from tests.billing.sessions import charging_site, finished_session, token_of
from users import roles
from users.models import IdToken, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(make_user) -> User:
    """A member of staff in the operator admin role (users/roles.py)."""
    roles.set_up_roles()
    user = make_user(is_staff=True, email="operator@example.com")
    user.groups.add(Group.objects.get(name=roles.OPERATOR_ADMIN.name))
    return user


@pytest.fixture
def operator_client(operator) -> Client:
    client = Client()
    client.force_login(operator)
    return client


def _form_data(page: Any) -> dict[str, Any]:
    """What the browser would post back from an admin change page, unchanged."""
    data: dict[str, Any] = {}

    def add(form: Any) -> None:
        for name in form.fields:
            field = form[name]
            value = field.value()
            if value is None or value is False:
                continue
            widget = field.field.widget
            if hasattr(widget, "widgets"):  # split date and time: name_0, name_1
                for number, part in enumerate(widget.decompress(value)):
                    data[f"{field.html_name}_{number}"] = part.isoformat()
            elif value is True:
                data[field.html_name] = "on"
            elif isinstance(value, list | tuple):
                data[field.html_name] = [str(item) for item in value]
            else:
                data[field.html_name] = str(value)

    add(page.context["adminform"].form)
    for inline in page.context["inline_admin_formsets"]:
        add(inline.formset.management_form)
        for form in inline.formset.forms:
            add(form)
    return data


def _only(**lookup: Any) -> AuditRecord:
    records = list(AuditRecord.objects.filter(**lookup))
    assert len(records) == 1, records
    return records[0]


def test_a_charger_changed_in_admin_is_recorded_with_before_and_after(operator, operator_client):
    charge_point = ChargePoint.objects.create(
        charge_point_id="AUDIT-CP", heartbeat_interval=300, allow_unauthenticated=True
    )
    url = reverse("admin:stations_chargepoint_change", args=[charge_point.pk])
    data = _form_data(operator_client.get(url)) | {"heartbeat_interval": "120"}

    assert operator_client.post(url, data).status_code == 302

    record = _only(object_type="stations.chargepoint", action="changed")
    assert (record.actor, record.actor_email, record.door) == (operator, operator.email, "admin")
    assert (record.object_id, record.object_repr) == (str(charge_point.pk), "AUDIT-CP")
    assert (record.before, record.after) == (
        {"heartbeat_interval": 300},
        {"heartbeat_interval": 120},
    )
    assert record.at is not None and record.path == url


def test_a_chargers_security_profile_lowered_in_admin_is_recorded(operator_client):
    """Profiles only go up by themselves (stations/ocpp/connections.py); staff lowering
    one lets the charger back at a weaker profile, so who did it is kept."""
    charge_point = ChargePoint.objects.create(
        charge_point_id="AUDIT-SP", security_profile=3, allow_unauthenticated=True
    )
    url = reverse("admin:stations_chargepoint_change", args=[charge_point.pk])
    data = _form_data(operator_client.get(url)) | {"security_profile": "2"}

    assert operator_client.post(url, data).status_code == 302

    record = _only(object_type="stations.chargepoint", action="changed")
    assert (record.before, record.after) == ({"security_profile": 3}, {"security_profile": 2})


def test_approving_pending_chargers_in_admin_is_recorded_for_each(operator_client):
    pending = [
        ChargePoint.objects.create(
            charge_point_id=f"AUDIT-PEND-{n}",
            registration_status=ChargePoint.Registration.PENDING,
            allow_unauthenticated=True,
        )
        for n in (1, 2)
    ]
    operator_client.post(
        reverse("admin:stations_chargepoint_changelist"),
        {"action": "approve_pending", "_selected_action": [cp.pk for cp in pending]},
    )

    records = AuditRecord.objects.filter(object_type="stations.chargepoint").order_by("object_id")
    assert [(r.object_repr, r.action, r.before, r.after, r.door) for r in records] == [
        (
            cp.charge_point_id,
            "changed",
            {"registration_status": "Pending"},
            {"registration_status": "Accepted"},
            "admin",
        )
        for cp in pending
    ]


def test_revoking_a_charger_certificate_in_admin_is_recorded(operator, operator_client):
    charge_point = ChargePoint.objects.create(charge_point_id="AUDIT-CERT")
    certificate = ChargerCertificate.objects.create(
        charge_point=charge_point,
        serial_number="a1",
        subject="CN=AUDIT-CERT",
        not_before=datetime(2026, 1, 1, tzinfo=UTC),
        not_after=datetime(2027, 1, 1, tzinfo=UTC),
        pem="-",
    )
    operator_client.post(
        reverse("admin:stations_chargercertificate_changelist"),
        {"action": "revoke", "_selected_action": [certificate.pk]},
    )

    certificate.refresh_from_db()
    assert certificate.revoked_at is not None
    record = _only(object_type="stations.chargercertificate")
    assert (record.actor, record.action, record.object_id) == (
        operator,
        "changed",
        str(certificate.pk),
    )
    assert record.before == {"revoked_at": None}
    # JSON keeps milliseconds (DjangoJSONEncoder).
    revoked_at = datetime.fromisoformat(record.after["revoked_at"])
    assert timedelta(0) <= certificate.revoked_at - revoked_at < timedelta(milliseconds=1)


def test_a_site_changed_in_admin_is_recorded(operator_client):
    site = Site.objects.create(name="Old name", open_24_7=True)
    url = reverse("admin:stations_site_change", args=[site.pk])
    data = _form_data(operator_client.get(url)) | {"name": "New name"}

    assert operator_client.post(url, data).status_code == 302

    record = _only(object_type="stations.site")
    assert (record.before, record.after) == ({"name": "Old name"}, {"name": "New name"})


def test_a_tariff_added_in_admin_is_recorded_with_its_prices(operator_client):
    response = operator_client.post(
        reverse("admin:billing_tariff_add"),
        {
            "name": "Audited",
            "currency": "SEK",
            "vat_rate": "25",
            "price_per_kwh": "3.00",
            "price_per_minute": "0",
            "session_fee": "0",
            "idle_fee_per_minute": "0",
            "idle_grace_minutes": "0",
            "no_show_fee": "0",
            "time_of_use-TOTAL_FORMS": "0",
            "time_of_use-INITIAL_FORMS": "0",
            "assignments-TOTAL_FORMS": "0",
            "assignments-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]

    record = _only(object_type="billing.tariff")
    assert record.action == "created" and record.before is None
    assert record.after["name"] == "Audited"
    assert Decimal(record.after["price_per_kwh"]) == Decimal("3")


def test_a_token_added_blocked_and_deleted_in_admin_is_recorded_each_time(operator_client):
    operator_client.post(
        reverse("admin:users_idtoken_add"),
        {"uid": "audit-1", "type": "RFID", "status": "Accepted", "name": "Card"},
    )
    token = IdToken.objects.get(uid="AUDIT-1")
    url = reverse("admin:users_idtoken_change", args=[token.pk])
    operator_client.post(url, _form_data(operator_client.get(url)) | {"status": "Blocked"})
    operator_client.post(reverse("admin:users_idtoken_delete", args=[token.pk]), {"post": "yes"})

    records = AuditRecord.objects.filter(object_type="users.idtoken").order_by("at", "id")
    assert [(r.action, r.object_repr) for r in records] == [
        ("created", "AUDIT-1 (Card)"),
        ("changed", "AUDIT-1 (Card)"),
        ("deleted", "AUDIT-1 (Card)"),
    ]
    assert (records[1].before, records[1].after) == ({"status": "Accepted"}, {"status": "Blocked"})
    assert records[2].before["uid"] == "AUDIT-1" and records[2].after is None


def test_a_token_put_on_a_sites_local_list_in_admin_is_recorded(operator_client):
    site = Site.objects.create(name="Offline list", open_24_7=True)
    token = IdToken.objects.create(uid="LIST-1")
    response = operator_client.post(
        reverse("admin:stations_locallistentry_add"), {"token": token.pk, "site": site.pk}
    )
    assert response.status_code == 302

    record = _only(object_type="stations.locallistentry")
    assert record.action == "created"
    assert (record.after["token_id"], record.after["site_id"]) == (token.pk, site.pk)


def test_a_wallet_credit_in_admin_is_recorded(operator_client, driver):
    operator_client.post(
        reverse("admin:billing_walletentry_credit"),
        {"driver": driver.pk, "amount": "150.00", "reason": "Bankgiro", "reference": "BG-9"},
    )

    record = _only(object_type="billing.walletentry")
    assert record.action == "created"
    assert record.after["amount"] == "150.00" and record.after["user_id"] == driver.pk


def test_a_refund_in_admin_records_its_credit_note_and_the_money_back(
    operator, operator_client, driver
):
    credit_wallet_manually(driver, Decimal(100), staff=operator, reason="Cash")
    BillingAccount.objects.update_or_create(user=driver, defaults={"payment_method": "wallet"})
    session = finished_session(
        charging_site(),
        token_of(driver),
        started_at=datetime(2026, 3, 10, 8, tzinfo=UTC),
        wh=10_000,
    )
    receipt = settlement.settle_session(session.pk).document
    assert not AuditRecord.objects.exists()  # set up outside any staff request

    operator_client.post(
        reverse("admin:billing_invoice_credit", args=[receipt.pk]),
        {"gross": "2.50", "reason": "Slow charger"},
    )

    note = Invoice.objects.get(kind=Invoice.Kind.CREDIT_NOTE)
    created = _only(object_type="billing.invoice", action="created")
    assert created.object_id == str(note.pk) and created.after["gross"] == "-2.50"
    # The money back: the wallet refund, and the credit note's refund reference.
    assert _only(object_type="billing.walletentry").after["amount"] == "2.50"
    changed = _only(object_type="billing.invoice", action="changed")
    assert changed.after["refund_reference"].startswith("wallet:")


def test_a_users_roles_changed_in_admin_are_recorded(operator_client, make_user):
    person = make_user(email="new-staff@example.com")
    url = reverse("admin:users_user_change", args=[person.pk])
    support = Group.objects.get(name=roles.SUPPORT.name)
    data = _form_data(operator_client.get(url)) | {"is_staff": "on", "groups": [str(support.pk)]}

    response = operator_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors

    records = AuditRecord.objects.filter(object_type="users.user", object_id=str(person.pk))
    fields = next(r for r in records if "is_staff" in r.after)
    assert (fields.before["is_staff"], fields.after["is_staff"]) == (False, True)
    groups = next(r for r in records if "groups" in r.after)
    assert (groups.before, groups.after) == ({"groups": []}, {"groups": ["Support"]})
    assert {r.actor_email for r in records} == {"operator@example.com"}


def test_a_new_password_is_recorded_as_changed_without_its_hash(operator_client, make_user):
    person = make_user()
    url = f"/admin/users/user/{person.pk}/password/"
    operator_client.post(
        url,
        {"password1": "a-new-long-password-1", "password2": "a-new-long-password-1"},
    )

    record = _only(object_type="users.user")
    assert (record.before, record.after) == ({"password": "(hidden)"}, {"password": "(hidden)"})


def test_staff_api_changes_are_recorded_as_through_the_api(operator, make_user):
    token = IdToken.objects.create(uid="API-AUDIT")
    client = APIClient()
    client.force_authenticate(operator)

    response = client.patch(f"/api/v1/tokens/{token.pk}/", {"status": "Blocked"}, format="json")
    assert response.status_code == 200

    record = _only(object_type="users.idtoken")
    assert (record.door, record.actor, record.action) == ("api", operator, "changed")
    assert (record.before, record.after) == ({"status": "Accepted"}, {"status": "Blocked"})
    assert record.path == f"/api/v1/tokens/{token.pk}/"


def test_changes_outside_staff_requests_are_not_staff_actions(driver_client, driver):
    # A charger's boot, a task, a driver in the portal: not staff actions.
    ChargePoint.objects.create(charge_point_id="NOT-AUDITED")
    token_of(driver).save()
    assert not AuditRecord.objects.exists()


def test_records_are_read_only_in_admin_and_in_the_model(operator, operator_client):
    token = IdToken.objects.create(uid="RO-1")
    client = APIClient()
    client.force_authenticate(operator)
    client.patch(f"/api/v1/tokens/{token.pk}/", {"name": "Changed"}, format="json")
    record = AuditRecord.objects.get()

    change = reverse("admin:audit_auditrecord_change", args=[record.pk])
    page = operator_client.get(change)
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert operator_client.post(change, {"actor_email": "forged"}).status_code == 403
    delete = reverse("admin:audit_auditrecord_delete", args=[record.pk])
    assert operator_client.post(delete, {"post": "yes"}).status_code == 403
    assert operator_client.get(reverse("admin:audit_auditrecord_add")).status_code == 403
    with pytest.raises(PermissionError):
        record.save()
    with pytest.raises(PermissionError):
        record.delete()
    record.refresh_from_db()
    assert record.actor_email == operator.email


def test_operator_admins_see_and_export_the_records_in_admin_and_the_api(operator, operator_client):
    token = IdToken.objects.create(uid="EXPORT-1")
    api = APIClient()
    api.force_authenticate(operator)
    api.patch(f"/api/v1/tokens/{token.pk}/", {"name": "=HYPERLINK()"}, format="json")

    changelist = reverse("admin:audit_auditrecord_changelist")
    assert "EXPORT-1" in operator_client.get(changelist).content.decode()
    exported = operator_client.post(
        changelist,
        {"action": "export_csv", "_selected_action": [AuditRecord.objects.get().pk]},
    )
    rows = list(csv.reader(io.StringIO(b"".join(exported.streaming_content).decode())))
    assert rows[0][:4] == ["at", "actor", "door", "action"]
    assert rows[1][1:5] == [operator.email, "api", "changed", "users.idtoken"]

    listed = api.get("/api/v1/audit-records/", {"object_type": "users.idtoken"}).json()
    assert [(r["action"], r["after"]) for r in listed["results"]] == [
        ("changed", {"name": "=HYPERLINK()"})
    ]
    export = api.get("/api/v1/audit-records/export/", {"actor": operator.email})
    assert export["Content-Type"].startswith("text/csv")
    assert len(list(csv.reader(io.StringIO(b"".join(export.streaming_content).decode())))) == 2
    assert api.get("/api/v1/audit-records/", {"since": "yesterday"}).status_code == 400


@pytest.mark.parametrize("role", [roles.SUPPORT, roles.FINANCE, roles.TECHNICIAN])
def test_other_roles_do_not_see_the_records(make_user, role):
    roles.set_up_roles()
    user = make_user(is_staff=True)
    user.groups.add(Group.objects.get(name=role.name))
    client = Client()
    client.force_login(user)
    assert client.get(reverse("admin:audit_auditrecord_changelist")).status_code == 403
    api = APIClient()
    api.force_authenticate(user)
    assert api.get("/api/v1/audit-records/").status_code == 403
    assert api.get("/api/v1/audit-records/export/").status_code == 403

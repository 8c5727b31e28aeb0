"""Local authorization lists (stations/local_list.py) with simulated 1.6 chargers over a
real WebSocket: a Full list after boot when the versions differ, a Differential after a
token change (debounced: one message for a burst), the charger's maximum lengths, and
staff seeing whether each charger is in step."""

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import transaction
from django.test import Client
from django.utils import timezone

from billing import accounts
from billing.models import BillingAccount
from stations import local_list
from stations.models import ChargePoint, ChargerCommand, LocalListEntry, LocalListSync, Site
from tests.conftest import eventually
from users.models import IdToken

# A sync is a few round trips through the channel layer (GetConfiguration, one or more
# SendLocalList) on a machine shared with the rest of the suite: only a failure waits this.
SENDING = 20.0


def _site_with_tokens(name: str, *uids: str, blocked: tuple[str, ...] = ()) -> Site:
    site = Site.objects.create(name=name)
    for uid in uids:
        token = IdToken.objects.create(
            uid=uid, status=IdToken.Status.BLOCKED if uid in blocked else IdToken.Status.ACCEPTED
        )
        LocalListEntry.objects.create(token=token, site=site)
    return site


def _lists_sent(cp: Any) -> list[tuple[int, str, list[dict[str, Any]]]]:
    return [
        (kwargs["list_version"], kwargs["update_type"], kwargs["local_authorization_list"])
        for action, kwargs in cp.received
        if action == "SendLocalList"
    ]


def _state(charge_point_id: str) -> LocalListSync | None:
    return LocalListSync.objects.filter(charge_point__charge_point_id=charge_point_id).first()


def _version_asked(charge_point_id: str) -> bool:
    """The after-boot GetLocalListVersion answered and its answer handled."""
    return ChargerCommand.objects.filter(
        charge_point__charge_point_id=charge_point_id,
        action="GetLocalListVersion",
        status=ChargerCommand.Status.ANSWERED,
    ).exists()


def _limits(list_max: int, send_max: int) -> dict[str, Any]:
    return {
        "configurationKey": [
            {"key": "LocalAuthListMaxLength", "readonly": True, "value": str(list_max)},
            {"key": "SendLocalListMaxLength", "readonly": True, "value": str(send_max)},
        ],
        "unknownKey": [],
    }


async def test_a_charger_reporting_another_version_after_boot_gets_the_full_list(charger):
    site = await sync_to_async(_site_with_tokens)("Full", "CARD-A", "CARD-B", blocked=("CARD-B",))
    async with charger("LL-FULL", site=site) as cp:
        cp.answers["GetLocalListVersion"] = {"listVersion": 7}  # not ours (0)
        assert (await cp.boot()).status == "Accepted"
        assert await eventually(lambda: _lists_sent(cp), timeout=SENDING)
        # Blocked tokens stay on the list: offline, the charger refuses them.
        assert _lists_sent(cp) == [
            (
                1,
                "Full",
                [
                    {"id_tag": "CARD-A", "id_tag_info": {"status": "Accepted"}},
                    {"id_tag": "CARD-B", "id_tag_info": {"status": "Blocked"}},
                ],
            )
        ]
        assert cp.received[0][0] == "GetLocalListVersion"
        state = await eventually(lambda: (s := _state("LL-FULL")) and s.in_sync and s)
        assert (state.version, state.charger_version) == (1, 1)
        assert set(state.entries) == {"CARD-A", "CARD-B"}


async def test_a_token_change_reaches_the_charger_as_one_differential(charger):
    site = await sync_to_async(_site_with_tokens)("Diff", "DIFF-A", "DIFF-B", "DIFF-C")

    def in_step_at_version_3() -> None:
        charge_point = ChargePoint.objects.get(charge_point_id="LL-DIFF")
        LocalListSync.objects.create(
            charge_point=charge_point,
            version=3,
            charger_version=3,
            entries=local_list.wanted(charge_point),
            synced_at=timezone.now(),
        )

    async with charger("LL-DIFF", site=site) as cp:
        await sync_to_async(in_step_at_version_3)()
        cp.answers["GetLocalListVersion"] = {"listVersion": 3}
        await cp.boot()
        assert await eventually(lambda: _version_asked("LL-DIFF"))
        assert await eventually(lambda: _state("LL-DIFF").charger_version == 3)
        assert _lists_sent(cp) == []  # same version, nothing waiting: nothing to send

        def two_changes_at_once() -> None:
            with transaction.atomic():
                IdToken.objects.filter(uid="DIFF-B").update(status=IdToken.Status.BLOCKED)
                IdToken.objects.get(uid="DIFF-B").save()
                LocalListEntry.objects.filter(token__uid="DIFF-C").delete()

        await sync_to_async(two_changes_at_once)()
        assert await eventually(lambda: _lists_sent(cp), timeout=SENDING)
        assert _lists_sent(cp) == [
            (
                4,
                "Differential",
                [
                    {"id_tag": "DIFF-C"},  # no idTagInfo: removed (OCPP 1.6 §5.15)
                    {"id_tag": "DIFF-B", "id_tag_info": {"status": "Blocked"}},
                ],
            )
        ]
        state = await eventually(lambda: (s := _state("LL-DIFF")) and s.in_sync and s)
        assert state.version == 4
        assert set(state.entries) == {"DIFF-A", "DIFF-B"}


async def test_the_list_respects_the_chargers_maximum_lengths(charger):
    site = await sync_to_async(_site_with_tokens)(
        "Max", "MAX-1", "MAX-2", "MAX-3", "MAX-4", blocked=("MAX-1",)
    )
    async with charger("LL-MAX", site=site) as cp:
        cp.answers["GetConfiguration"] = _limits(list_max=3, send_max=2)
        cp.answers["GetLocalListVersion"] = {"listVersion": 0}
        await cp.boot()
        assert await eventually(lambda: len(_lists_sent(cp)) == 2, timeout=SENDING)
        # At most 3 entries, Accepted ones first (the blocked MAX-1 is left out); at
        # most 2 per message: a Full, then a Differential with the rest.
        assert _lists_sent(cp) == [
            (
                1,
                "Full",
                [
                    {"id_tag": "MAX-2", "id_tag_info": {"status": "Accepted"}},
                    {"id_tag": "MAX-3", "id_tag_info": {"status": "Accepted"}},
                ],
            ),
            (2, "Differential", [{"id_tag": "MAX-4", "id_tag_info": {"status": "Accepted"}}]),
        ]
        asked = [kwargs for action, kwargs in cp.received if action == "GetConfiguration"]
        assert asked == [{"key": ["LocalAuthListMaxLength", "SendLocalListMaxLength"]}]
        state = await eventually(lambda: (s := _state("LL-MAX")) and s.version == 2 and s)
        assert state.in_sync
        assert sorted(state.entries) == ["MAX-2", "MAX-3", "MAX-4"]


async def test_a_version_mismatch_answer_gets_the_full_list(charger):
    site = await sync_to_async(_site_with_tokens)("Mismatch", "MIS-A")

    def in_step_at_version_5() -> None:
        charge_point = ChargePoint.objects.get(charge_point_id="LL-MISMATCH")
        LocalListSync.objects.create(
            charge_point=charge_point,
            version=5,
            charger_version=5,
            entries=local_list.wanted(charge_point),
            synced_at=timezone.now(),
        )

    async with charger("LL-MISMATCH", site=site) as cp:
        await sync_to_async(in_step_at_version_5)()
        cp.answers["GetLocalListVersion"] = {"listVersion": 5}
        # The charger says a Differential does not fit its list: everything again, which
        # it takes.
        cp.answers["SendLocalList"] = lambda asked: {
            "status": "Accepted" if asked["update_type"] == "Full" else "VersionMismatch"
        }
        await cp.boot()
        assert await eventually(lambda: _version_asked("LL-MISMATCH"))

        def add_token() -> None:
            token = IdToken.objects.create(uid="MIS-B")
            LocalListEntry.objects.create(token=token, charge_point=cp_row())

        def cp_row() -> ChargePoint:
            return ChargePoint.objects.get(charge_point_id="LL-MISMATCH")

        await sync_to_async(add_token)()
        assert await eventually(lambda: len(_lists_sent(cp)) == 2, timeout=SENDING)
        assert _lists_sent(cp) == [
            (6, "Differential", [{"id_tag": "MIS-B", "id_tag_info": {"status": "Accepted"}}]),
            (
                6,
                "Full",
                [
                    {"id_tag": "MIS-A", "id_tag_info": {"status": "Accepted"}},
                    {"id_tag": "MIS-B", "id_tag_info": {"status": "Accepted"}},
                ],
            ),
        ]
        state = await eventually(lambda: (s := _state("LL-MISMATCH")) and s.in_sync and s)
        assert (state.version, state.charger_version, state.last_result) == (6, 6, "Accepted")
        assert sorted(state.entries) == ["MIS-A", "MIS-B"]

        # Refused again (Full too): staff see the list out of step, the change waits.
        cp.answers["SendLocalList"] = {"status": "VersionMismatch"}

        def block_token() -> None:
            token = IdToken.objects.get(uid="MIS-A")
            token.status = IdToken.Status.BLOCKED
            token.save()

        await sync_to_async(block_token)()
        assert await eventually(lambda: len(_lists_sent(cp)) == 4, timeout=SENDING)
        assert [(version, kind) for version, kind, _ in _lists_sent(cp)[2:]] == [
            (7, "Differential"),
            (7, "Full"),
        ]
        state = await eventually(
            lambda: (s := _state("LL-MISMATCH")) and s.syncing_since is None and s
        )
        assert not state.in_sync
        assert state.last_result == "VersionMismatch"


def test_a_differential_removes_before_it_adds_in_chunks():
    held = {"A": {"status": "Accepted"}, "B": {"status": "Accepted"}}
    wanted = {"B": {"status": "Blocked"}, "C": {"status": "Accepted"}}
    assert local_list.plan(held, wanted, full=False, send_max=2) == [
        local_list.Update("Differential", {"A": None, "B": {"status": "Blocked"}}),
        local_list.Update("Differential", {"C": {"status": "Accepted"}}),
    ]
    assert local_list.plan(wanted, wanted, full=False, send_max=2) == []
    assert local_list.plan(held, {}, full=True, send_max=None) == [local_list.Update("Full", {})]


@pytest.mark.django_db
def test_billings_refusal_blocks_the_token_on_the_list(make_user):
    driver = make_user()
    account = accounts.payer_for(driver)
    account.payment_method = BillingAccount.PaymentMethod.WALLET
    account.save()
    site = _site_with_tokens("Wallet", "WALLET-1")
    IdToken.objects.filter(uid="WALLET-1").update(owner=driver)
    charge_point = ChargePoint.objects.create(charge_point_id="LL-WALLET", site=site)
    # An empty wallet (under BILLING_WALLET_MINIMUM) refuses the token: Blocked offline too.
    assert local_list.wanted(charge_point) == {"WALLET-1": {"status": "Blocked"}}


@pytest.mark.django_db
def test_staff_see_whether_each_chargers_list_is_in_sync(make_user):
    staff = make_user("stations.view_chargepoint", is_staff=True)
    in_step = ChargePoint.objects.create(charge_point_id="LL-IN-STEP")
    LocalListSync.objects.create(charge_point=in_step, version=2, charger_version=2)
    behind = ChargePoint.objects.create(charge_point_id="LL-BEHIND")
    LocalListSync.objects.create(charge_point=behind, version=2, charger_version=1)
    client = Client()
    client.force_login(staff)
    page = client.get("/admin/stations/chargepoint/").content.decode()
    assert "local list in sync" in page.lower()
    assert page.count("icon-yes.svg") == 1 and page.count("icon-no.svg") == 1
    detail = client.get(f"/admin/stations/chargepoint/{behind.pk}/change/").content.decode()
    assert "Not in sync: version 2 sent, 1 reported by the charger" in detail


@pytest.mark.django_db
def test_one_sync_per_charger_at_a_time():
    charge_point = ChargePoint.objects.create(charge_point_id="LL-BUSY")
    LocalListSync.objects.create(charge_point=charge_point, syncing_since=timezone.now())
    assert local_list.sync(charge_point.pk) == local_list.BUSY
    assert not ChargerCommand.objects.filter(charge_point=charge_point).exists()


@pytest.mark.django_db
def test_whether_a_list_is_kept_for_a_charger_is_asked_as_the_orm_answers_it():
    # is_managed's questions run SQL built once (CompiledQuery.exists): each case must be
    # answered as the ORM's queries answer it.
    def by_orm(cp: ChargePoint) -> bool:
        return (
            LocalListSync.objects.filter(charge_point=cp).exists()
            or local_list._listed(cp).exists()
        )

    site, other_site = Site.objects.create(name="Kajen"), Site.objects.create(name="Torget")
    alone = ChargePoint.objects.create(charge_point_id="CP-LIST-ALONE")
    on_site = ChargePoint.objects.create(charge_point_id="CP-LIST-SITE", site=site)
    neighbour = ChargePoint.objects.create(charge_point_id="CP-LIST-NEXT", site=other_site)
    chargers = (alone, on_site, neighbour)
    token = IdToken.objects.create(uid="LIST-ORM")
    assert [local_list.is_managed(cp) for cp in chargers] == [False, False, False]
    entry = LocalListEntry.objects.create(token=token, site=site)
    assert [local_list.is_managed(cp) for cp in chargers] == [by_orm(cp) for cp in chargers]
    assert local_list.is_managed(on_site) and not local_list.is_managed(neighbour)
    entry.delete()
    LocalListSync.objects.all().delete()
    LocalListEntry.objects.create(token=token, charge_point=alone)
    assert [local_list.is_managed(cp) for cp in chargers] == [by_orm(cp) for cp in chargers]
    assert local_list.is_managed(alone) and not local_list.is_managed(neighbour)
    LocalListEntry.objects.all().delete()
    LocalListSync.objects.all().delete()
    LocalListSync.objects.create(charge_point=neighbour)
    assert [local_list.is_managed(cp) for cp in chargers] == [False, False, True]

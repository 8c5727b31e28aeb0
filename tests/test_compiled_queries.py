"""chargehub.compiled_queries: the SQL and parameters are Django's for the same queryset
across values, and the rows what the ORM gives (on SQLite and PostgreSQL: the tests run on
both); the OCPP path's compiled reads checked against their querysets."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, transaction
from django.db.models import Model, Q
from django.db.models.signals import post_save, pre_save
from django.db.models.sql.subqueries import UpdateQuery
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext

from chargehub.compiled_queries import CompiledQuery, Param, save_fields, update_statement
from operations import availability, emergency, tickets
from stations import batches, local_list, sessions
from stations.authorization import TOKEN
from stations.models import CONNECTORS_OF, ChargePoint, ChargingSession, Connector, MeterSample
from stations.ocpp import connections
from stations.ocpp.v16 import LOCKED_SESSION, SESSION
from users.models import IdToken

pytestmark = pytest.mark.django_db

STARTED = datetime(2026, 3, 29, 0, 59, 59, 123456, tzinfo=UTC)  # microseconds, DST eve


@pytest.fixture
def rows() -> dict[str, Any]:
    charge_point = ChargePoint.objects.create(charge_point_id="CP-COMPILED")
    other = ChargePoint.objects.create(charge_point_id="CP-COMPILED-2")
    connector = Connector.objects.create(charge_point=charge_point, connector_id=1)
    token = IdToken.objects.create(uid="COMPILED-TAG")
    done = ChargingSession.objects.create(
        charge_point=charge_point,
        connector=connector,
        id_tag="COMPILED-TAG",
        id_token=token,
        started_at=STARTED - timedelta(hours=2),
        meter_start_wh=100,
        stopped_at=STARTED - timedelta(hours=1),
        status=ChargingSession.Status.COMPLETED,
    )
    active = ChargingSession.objects.create(
        charge_point=charge_point,
        connector=connector,
        id_tag="NO-TOKEN",
        started_at=STARTED,
        meter_start_wh=2500,
        clock_suspect=True,
    )
    for minute, (measurand, value) in enumerate(
        [
            ("Energy.Active.Import.Register", "2600.5"),
            ("Power.Active.Import", "7000"),
            ("Energy.Active.Import.Register", "2.7"),
            ("Energy.Active.Import.Register", "not a number"),
        ]
    ):
        number = None if value == "not a number" else Decimal(value).quantize(Decimal("0.000001"))
        MeterSample.objects.create(
            charge_point=charge_point,
            connector_id=1,
            session=active,
            timestamp=STARTED + timedelta(minutes=minute, microseconds=7),
            measurand=measurand,
            unit="kWh" if value == "2.7" else "Wh",
            value=value,
            value_decimal=number,
        )
    return {
        "charge_point": charge_point,
        "other": other,
        "connector": connector,
        "token": token,
        "done": done,
        "active": active,
    }


def same_instance(compiled: Model | None, orm: Model | None) -> None:
    """Equal fields, state and select_related objects, as the ORM made them."""
    assert type(compiled) is type(orm)
    if orm is None:
        return
    assert compiled is not None
    fields = {k: v for k, v in vars(orm).items() if k != "_state"}
    assert {k: v for k, v in vars(compiled).items() if k != "_state"} == fields
    assert (compiled._state.db, compiled._state.adding) == (orm._state.db, orm._state.adding)
    assert compiled._state.fields_cache.keys() == orm._state.fields_cache.keys()
    for name, related in orm._state.fields_cache.items():
        same_instance(compiled._state.fields_cache[name], related)


def agrees(query: CompiledQuery, **values: Any) -> list[Any]:
    """The statement is Django's for these values, and so are the rows; the rows."""
    queryset = query.queryset(**values)
    sql, params = queryset.query.sql_with_params()
    assert query.sql(**values) == (sql, list(params))
    compiled, orm = query.fetch(**values), list(queryset)
    assert len(compiled) == len(orm)
    for mine, theirs in zip(compiled, orm, strict=True):
        if isinstance(theirs, Model):
            same_instance(mine, theirs)
        else:
            assert mine == theirs
            assert [type(value) for value in mine] == [type(value) for value in theirs]
    return compiled


def test_the_locked_session_at_a_stop_is_the_orms_with_its_connector_and_token(rows):
    charge_point, other = rows["charge_point"], rows["other"]
    with transaction.atomic():
        for session in (rows["done"], rows["active"]):
            (found,) = agrees(LOCKED_SESSION, charge_point=charge_point, pk=session.pk)
            assert found.connector == rows["connector"]
        assert agrees(LOCKED_SESSION, charge_point=other, pk=rows["done"].pk) == []
        # A charge point's pk binds as the instance does (RelatedExact's normalising).
        assert agrees(LOCKED_SESSION, charge_point=charge_point.pk, pk=rows["done"].pk)
    if connection.vendor == "postgresql":
        assert (
            'FOR UPDATE OF "stations_chargingsession"'
            in LOCKED_SESSION.sql(charge_point=charge_point, pk=1)[0]
        )


@pytest.mark.django_db(transaction=True)
def test_a_locking_read_outside_a_transaction_is_refused_as_by_the_orm(rows):
    with transaction.atomic():
        LOCKED_SESSION.fetch(charge_point=rows["charge_point"], pk=rows["done"].pk)
    if connection.vendor == "postgresql":  # SQLite locks nothing, its check too
        with pytest.raises(TransactionManagementError):
            LOCKED_SESSION.fetch(charge_point=rows["charge_point"], pk=rows["done"].pk)


def test_the_session_of_a_meter_value_and_get(rows):
    (found,) = agrees(SESSION, charge_point=rows["charge_point"], pk=rows["active"].pk)
    assert found.id_token is None
    assert (
        SESSION.get(charge_point=rows["charge_point"], pk=rows["done"].pk).id_token
        == (rows["token"])
    )
    with pytest.raises(ChargingSession.DoesNotExist):
        SESSION.get(charge_point=rows["other"], pk=rows["active"].pk)
    both = CompiledQuery(lambda connector: ChargingSession.objects.filter(connector=connector))
    with pytest.raises(ChargingSession.MultipleObjectsReturned):
        both.get(connector=rows["connector"])


def test_the_token_is_first_by_the_models_ordering(rows):
    assert agrees(TOKEN, uid="COMPILED-TAG") == [rows["token"]]
    assert agrees(TOKEN, uid="compiled-tag") == []
    assert agrees(TOKEN, uid="'; DROP TABLE users_idtoken; --") == []


def test_the_open_or_same_start_read_across_values(rows):
    active, done = rows["active"], rows["done"]
    common = {"connector": rows["connector"], "charge_point": rows["charge_point"]}
    with transaction.atomic():
        # Only the open one; then the same start found too (datetime to the microsecond).
        assert agrees(
            sessions.OPEN_OR_SAME, id_tag="X", meter_start_wh=1, started_at=STARTED, **common
        ) == [active]
        same = {"id_tag": done.id_tag, "meter_start_wh": done.meter_start_wh}
        assert agrees(sessions.OPEN_OR_SAME, started_at=done.started_at, **same, **common) == [
            done,
            active,
        ]
        almost = done.started_at + timedelta(microseconds=1)
        assert agrees(sessions.OPEN_OR_SAME, started_at=almost, **same, **common) == [active]


def test_believed_samples_are_the_orms_tuples(rows):
    active = rows["active"]
    for measurands in (
        (sessions.ENERGY_REGISTER,),
        (sessions.ENERGY_REGISTER, "Power.Active.Import"),
        ("SoC",),
    ):
        query = sessions._believed_samples(measurands)
        samples = agrees(query, session=active)
        assert sessions.believed_samples(active, measurands) == samples
    assert agrees(sessions._believed_samples(("Power.Active.Import",)), session=rows["done"]) == []
    assert sessions.session_energy_wh(active) == 200  # 2,500 -> 2,600.5 -> 2,700 Wh


def exists_agrees(query: CompiledQuery, **values: Any) -> bool:
    """exists() sends the question QuerySet.exists() asks of the queryset (no ordering, one
    row), as Django compiles it, and answers as the ORM does; its answer."""
    asked = query.queryset(**values).order_by().values_list("pk")[:1]
    sql, params = asked.query.sql_with_params()
    assert query.exists_sql(**values) == (sql, list(params))
    assert sql.rstrip().endswith("LIMIT 1")  # never reads every row
    with CaptureQueriesContext(connection) as queries:
        found = query.exists(**values)
    assert len(queries) == 1
    assert found is query.queryset(**values).exists()
    return found


def test_exists_asks_for_one_row_as_the_orm_does(rows):
    any_session = CompiledQuery(
        lambda charge_point: ChargingSession.objects.filter(charge_point=charge_point)
    )
    for charge_point, found in ((rows["charge_point"], True), (rows["other"], False)):
        assert exists_agrees(any_session, charge_point=charge_point) is found
    # Its own statement: what fetch() sends is unchanged.
    sql, _ = any_session.sql(charge_point=rows["charge_point"])
    assert "LIMIT" not in sql
    # A queryset already sliced cannot be asked (QuerySet refuses to reorder it).
    first_token = CompiledQuery(lambda uid: IdToken.objects.filter(uid=uid)[:1])
    with pytest.raises(TypeError, match="slice"):
        first_token.exists(uid="COMPILED-TAG")


def test_the_connect_and_boot_questions_are_djangos_sql(rows):
    # Each module's test checks the answers against the ORM's; here the SQL and rows.
    charge_point, at = rows["charge_point"], STARTED
    assert agrees(tickets.OPEN_FAULT_TICKET, key="faulted:1:1") == []
    assert tickets.OPEN_FAULT_TICKET.first(key="faulted:1:1") is None
    for query, values in (
        (batches.OFFLINE_ITEM, {"charge_point": charge_point}),
        (emergency.STOP_IN_FORCE, {"charge_point": charge_point.pk}),
        (availability.WINDOW_COVERING, {"charge_point": charge_point, "site_id": None, "at": at}),
        (availability.WINDOW_COVERING, {"charge_point": charge_point, "site_id": 7, "at": at}),
        (availability.ANSWERED_AVAILABILITY, {"charge_point": charge_point}),
        (local_list.SYNC_STATE, {"charge_point": charge_point}),
        (local_list.LISTED_ENTRY, {"charge_point": charge_point, "site_id": None}),
        (local_list.LISTED_ENTRY, {"charge_point": charge_point, "site_id": 7}),
    ):
        assert agrees(query, **values) == []
        assert exists_agrees(query, **values) is False


def sessions_of(charge_point: Any, token: Any) -> Any:
    # A charger's sessions, and a token's when one is given: without one its branch is
    # left out (Q(id_token=None) would match every session without a token).
    where = Q(charge_point=charge_point)
    if token is not None:
        where |= Q(id_token=token)
    return ChargingSession.objects.filter(where).order_by("pk")


def test_an_optional_value_leaves_out_its_branch_when_none_as_the_orm_query_does(rows):
    query = CompiledQuery(sessions_of, optional=("token",))
    charge_point, other, token = rows["charge_point"], rows["other"], rows["token"]
    for _ in range(2):  # each shape compiled once, then bound again
        assert agrees(query, charge_point=other, token=None) == []
        assert agrees(query, charge_point=other, token=token) == [rows["done"]]
        assert agrees(query, charge_point=charge_point, token=None) == [
            rows["done"],
            rows["active"],
        ]
        assert exists_agrees(query, charge_point=other, token=None) is False
        assert exists_agrees(query, charge_point=other, token=token) is True
    # Two statements: the branch and its placeholder only where the token is given.
    without = query.sql(charge_point=other, token=None)
    given = query.sql(charge_point=other, token=token)
    assert (without[1], given[1]) == ([other.pk], [other.pk, token.pk])
    assert " OR " not in without[0] and " OR " in given[0]
    # A value not named optional is still never None.
    with pytest.raises(ValueError, match="never None"):
        query.fetch(charge_point=None, token=token)
    with pytest.raises(TypeError, match="optional"):
        CompiledQuery(sessions_of, optional=("site",))


def test_what_it_cannot_bind_is_refused(rows):
    with pytest.raises(ValueError, match="never None"):
        TOKEN.fetch(uid=None)
    with pytest.raises(TypeError, match="values for"):
        TOKEN.fetch(uid="A", extra=1)
    in_list = CompiledQuery(lambda uid: IdToken.objects.filter(uid__in=[uid]))
    with pytest.raises(TypeError, match="not the right side of a lookup"):
        in_list.fetch(uid="A")
    annotated = CompiledQuery(lambda uid: IdToken.objects.filter(uid=uid).annotate(p=Param("x")))
    with pytest.raises(TypeError, match="annotations"):
        annotated.fetch(uid="A")
    unused = CompiledQuery(lambda uid, other: IdToken.objects.filter(uid=uid))
    with pytest.raises(TypeError, match="not in the query"):
        unused.fetch(uid="A", other="B")


def test_save_fields_sends_djangos_update_with_the_same_values(rows):
    session = rows["active"]
    session.status = ChargingSession.Status.COMPLETED
    session.stopped_at = STARTED + timedelta(hours=1, microseconds=3)
    session.meter_stop_wh, session.energy_wh = 9000, None  # None bound, as Django binds it
    sql, params = update_statement(session, sessions.CLOSING_FIELDS, "default")
    written = [
        field
        for field in ChargingSession._meta.local_concrete_fields
        if field.name in sessions.CLOSING_FIELDS
    ]
    query = ChargingSession._base_manager.filter(pk=session.pk).query.chain(UpdateQuery)
    query.add_update_fields([(field, None, getattr(session, field.attname)) for field in written])
    django_sql, django_params = query.get_compiler("default").as_sql()
    assert (sql, params) == (django_sql, list(django_params))


def test_save_fields_is_save_with_update_fields(rows):
    heard: list[tuple[str, dict]] = []

    def hear(sender: Any, signal: Any, instance: Any, **kwargs: Any) -> None:
        heard.append(("pre" if signal is pre_save else "post", kwargs))

    pre_save.connect(hear, sender=ChargingSession, dispatch_uid="test-save-fields-pre")
    post_save.connect(hear, sender=ChargingSession, dispatch_uid="test-save-fields-post")
    try:
        saved = {}
        for name, save in [
            ("orm", lambda s: s.save(update_fields=sessions.CLOSING_FIELDS)),
            ("compiled", lambda s: save_fields(s, sessions.CLOSING_FIELDS)),
        ]:
            session = ChargingSession.objects.get(pk=rows["active"].pk)
            session.status, session.stop_reason = ChargingSession.Status.COMPLETED, "Local"
            session.id_tag = "NOT-WRITTEN"  # not among the fields: stays as stored
            before = session.updated_at
            save(session)
            assert session.updated_at > before and session._state.adding is False
            stored = ChargingSession.objects.get(pk=session.pk)
            assert (stored.status, stored.stop_reason, stored.id_tag) == (
                "completed",
                "Local",
                "NO-TOKEN",
            )
            assert stored.updated_at == session.updated_at
            saved[name] = heard[:]
            heard.clear()
    finally:
        pre_save.disconnect(sender=ChargingSession, dispatch_uid="test-save-fields-pre")
        post_save.disconnect(sender=ChargingSession, dispatch_uid="test-save-fields-post")
    assert saved["compiled"] == saved["orm"]
    assert [kind for kind, _ in saved["orm"]] == ["pre", "post"]


def test_save_fields_refuses_what_save_refuses(rows):
    gone = ChargingSession.objects.get(pk=rows["done"].pk)
    ChargingSession.objects.filter(pk=gone.pk).delete()
    for save in (
        lambda: gone.save(update_fields=sessions.CLOSING_FIELDS),
        lambda: save_fields(gone, sessions.CLOSING_FIELDS),
    ):
        with pytest.raises(ChargingSession.NotUpdated, match="did not affect any rows"):
            with transaction.atomic():  # the transaction is marked for rollback: its savepoint
                save()
    session = ChargingSession.objects.get(pk=rows["active"].pk)
    for save in (
        lambda: session.save(update_fields=("connector",)),
        lambda: save_fields(session, ("connector",)),
    ):
        session.connector = Connector(charge_point=rows["charge_point"], connector_id=2)
        with pytest.raises(ValueError, match="unsaved related object 'connector'"):
            save()


def test_the_charge_point_a_connect_admits_and_a_connection_owns_are_the_orms(rows):
    assert agrees(connections.CHARGE_POINT, charge_point_id="CP-COMPILED") == [rows["charge_point"]]
    assert agrees(connections.CHARGE_POINT, charge_point_id="cp-compiled") == []
    assert agrees(connections.CHARGE_POINT, charge_point_id="'; DROP TABLE x; --") == []
    ChargePoint.objects.filter(pk=rows["charge_point"].pk).update(connection_id="mine")
    for charge_point_id, connection_id, found in (
        ("CP-COMPILED", "mine", True),
        ("CP-COMPILED", "another", False),
        ("CP-COMPILED-2", "mine", False),
    ):
        owned = {"charge_point_id": charge_point_id, "connection_id": connection_id}
        assert len(agrees(connections.OWNED, **owned)) == found
        assert exists_agrees(connections.OWNED, **owned) is found


def test_a_charge_points_connectors_are_the_orms_in_one_read(rows):
    charge_point = ChargePoint.objects.get(pk=rows["charge_point"].pk)
    Connector.objects.create(charge_point=charge_point, connector_id=0)
    connectors = agrees(CONNECTORS_OF, charge_point=charge_point)
    assert [connector.connector_id for connector in connectors] == [0, 1]
    assert agrees(CONNECTORS_OF, charge_point=rows["other"]) == []
    with CaptureQueriesContext(connection) as queries:
        known = charge_point.connectors_by_id
        assert all(connector.charge_point is charge_point for connector in known.values())
    assert len(queries) == 1
    assert {n: c.pk for n, c in known.items()} == {c.connector_id: c.pk for c in connectors}


def updates_as_the_orm(query: CompiledQuery, changes: dict[str, Any], **values: Any) -> list[Any]:
    """update() sends Django's UPDATE for these changes returning the selected columns, in
    one statement, and answers the rows as the ORM reads them after its update(); them."""
    django_query = query.queryset(**values).query.chain(UpdateQuery)
    django_query.add_update_values(changes)
    django_sql, _ = django_query.get_compiler("default").as_sql()
    assert query.update_sql(changes, **values).startswith(django_sql + " RETURNING ")
    with CaptureQueriesContext(connection) as queries:
        updated = query.update(changes, **values)
    assert [q["sql"].split()[0] for q in queries] == ["UPDATE"]
    orm = list(query.queryset(**values).filter(pk__in=[row.pk for row in updated]))
    assert len(updated) == len(orm)
    for mine, theirs in zip(updated, orm, strict=True):
        same_instance(mine, theirs)
    return updated


def test_update_is_the_orms_update_answering_the_rows_as_stored(rows):
    ChargePoint.objects.filter(pk=rows["charge_point"].pk).update(
        connection_id="mine", is_connected=True
    )
    seen = {"last_seen_at": STARTED + timedelta(minutes=5, microseconds=11)}
    mine = {"charge_point_id": "CP-COMPILED", "connection_id": "mine"}

    updated = updates_as_the_orm(connections.OWNED_CONNECTED, seen, **mine)
    assert [(row.pk, row.last_seen_at) for row in updated] == [
        (rows["charge_point"].pk, seen["last_seen_at"])
    ]
    another = {"charge_point_id": "CP-COMPILED", "connection_id": "another"}
    assert updates_as_the_orm(connections.OWNED_CONNECTED, seen, **another) == []
    ChargePoint.objects.filter(pk=rows["charge_point"].pk).update(is_connected=False)
    assert updates_as_the_orm(connections.OWNED_CONNECTED, seen, **mine) == []
    back = {**seen, "is_connected": True}
    assert [row.is_connected for row in updates_as_the_orm(connections.OWNED, back, **mine)] == [
        True
    ]
    assert ChargePoint.objects.get(pk=rows["charge_point"].pk).is_connected is True


def test_update_refuses_what_is_not_one_tables_plain_queryset(rows):
    changes = {"last_seen_at": STARTED}
    joined = CompiledQuery(lambda name: ChargePoint.objects.filter(site__name=name))
    with pytest.raises(TypeError, match="one table"):
        joined.update(changes, name="A")
    with transaction.atomic(), pytest.raises(TypeError, match="one table"):
        LOCKED_SESSION.update({"energy_wh": 1}, charge_point=rows["charge_point"], pk=1)
    with pytest.raises(TypeError, match="cannot change"):
        connections.OWNED.update({"id": 5}, charge_point_id="A", connection_id="B")

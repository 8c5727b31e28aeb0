"""A queryset's SQL compiled once per database, its values bound per call.

Django compiles a queryset's SQL anew each time it is read. For the reads every charger's
call makes (its session locked at a stop, the connector's open sessions at a start, the
token, the samples for the energy) that compiling cost more CPU than the rest of the read
(#17's profile: `as_sql` 14 % of a busy server; docs/performance.md). A CompiledQuery is
written as the same queryset, with `Param` where a call's value goes:

    LOCKED = CompiledQuery(
        lambda charge_point, pk: (
            ChargingSession.objects.select_for_update().filter(charge_point=charge_point, pk=pk)
        )
    )
    sessions = LOCKED.fetch(charge_point=charge_point, pk=42)

Its SQL is what Django compiles for the queryset (kept per database alias, so per vendor),
each value is prepared by the lookup it sits in as the ORM prepares it (the same lookup
class, built with the value), and the rows come back as the ORM gives them: model
instances by `from_db` with their select_related objects set by Django's own populators, or
values_list tuples, through the compiler's converters. tests/test_compiled_queries.py
checks the SQL and parameters equal Django's for the same queryset across values.

What it takes: a Param only as the right-hand side of a plain lookup (`field=Param`, not in
`__in` lists or expressions), never bound to None (the ORM would write IS NULL; a model
instance for a foreign key binds its pk, unchecked against the related model); querysets
of model instances or values_list tuples without annotations, prefetching or extra columns
(anything else is refused when it is first compiled).

A value that may be missing is named in `optional`: when it is None, `build` is called with
None in its place and leaves out what that value would add (a charger without a site must
not match `site_id IS NULL`):

    def _covering(charge_point, site_id):
        covers = Q(charge_point=charge_point)
        if site_id is not None:  # this branch only when a site is given
            covers |= Q(site_id=site_id)
        return MaintenanceWindow.objects.filter(covers)

    WINDOW = CompiledQuery(_covering, optional=("site_id",))

Each shape (which optional values are None) is compiled once, when first asked: at most
2**len(optional) statements, each the one the ORM compiles for that case.

Reads asked at every charger's connect or boot and nearly always answered "none" (the
emergency stop, a batch's offline item, the after-boot questions) are
CompiledQuery.exists(): it compiles, once too, the question QuerySet.exists() would ask of
the queryset (no ordering, one row, no model made).

save_fields() is `instance.save(update_fields=...)` with its UPDATE built once, for a
session's close (its UPDATE was compiled anew at each StopTransaction).

CompiledQuery.update() is QuerySet.update() of the rows a one-table queryset selects,
answering them as updated (UPDATE ... RETURNING, which PostgreSQL and SQLite both have):
a charger's sign of life writes its last_seen_at and reads its row back in one statement,
built once, instead of an UPDATE the ORM compiled anew and a SELECT.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from inspect import signature
from typing import Any
from weakref import ref as weak_ref

from django.db import connections, router, transaction
from django.db.models import Field, Lookup, Model, QuerySet, Value
from django.db.models.query import (
    ModelIterable,
    ValuesListIterable,
    _get_from_db,
    get_related_populators,
)
from django.db.models.signals import post_save, pre_save
from django.db.models.sql.where import WhereNode
from django.db.transaction import TransactionManagementError


class _Slot:
    """Stands in the compiled parameters where a Param's value goes."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


class Param(Value):
    """Where a call's value goes: the right-hand side of a lookup.

    A Value, so Django writes it as a plain placeholder (`= %s`, as for a value), not
    wrapped in parentheses as other expressions are."""

    def __init__(self, name: str) -> None:
        super().__init__(None)
        self.name = name
        self.slot = _Slot(name)

    def resolve_expression(self, *args: Any, **kwargs: Any) -> "Param":
        # Each place the queryset uses it gets a slot of its own: one name may sit in
        # lookups of different fields.
        resolved = super().resolve_expression(*args, **kwargs)
        resolved.slot = _Slot(self.name)
        return resolved

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        return "%s", [self.slot]

    as_sqlite = as_sql  # no CAST: a value in a lookup gets none either


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple[Any, ...]
    slots: tuple[tuple[int, str, Lookup], ...]  # position, Param name, its lookup
    query: Any  # the compiled sql.Query, read only from then on
    compiler_class: str
    select: Any
    klass_info: Any
    col_count: int
    models: bool  # model instances, else values_list tuples
    fetch_mode: Any
    locks: bool
    # update()'s statements by (database, changed fields): the UPDATE and those fields.
    updates: dict[tuple[str, tuple[str, ...]], tuple[str, tuple[Field, ...]]] = field(
        default_factory=dict
    )


class CompiledQuery[M: Model]:
    """A queryset (`build`, called with a Param per argument) compiled once per database."""

    def __init__(self, build: Callable[..., QuerySet[M]], optional: tuple[str, ...] = ()) -> None:
        self._build = build
        self._names = tuple(signature(build).parameters)
        if not set(optional) <= set(self._names):
            raise TypeError(f"optional {optional} are not among {self._names}")
        self._optional = tuple(optional)
        # (alias, existence, the optional values that are None)
        self._compiled: dict[tuple[str, bool, tuple[str, ...]], _Compiled] = {}
        self._model: type[Model] | None = None
        self._for_write = False

    def fetch(self, **values: Any) -> list[Any]:
        """The rows for these values: model instances, or tuples for a values_list."""
        compiled, compiler, params = self._bind(values)
        connection, alias = compiler.connection, compiler.using
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            rows = cursor.fetchall()
        if not compiled.models:
            return list(compiler.results_iter([rows], tuple_expected=True))
        return _instances(compiler, compiled, alias, rows)

    def first(self, **values: Any) -> M | None:
        """The first row for these values, or None."""
        rows = self.fetch(**values)
        return rows[0] if rows else None

    def exists(self, **values: Any) -> bool:
        """Whether a row answers these values, as QuerySet.exists(): its own statement,
        compiled once, reads at most one row and makes no model."""
        compiled, compiler, params = self._bind(values, existence=True)
        with compiler.connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            return cursor.fetchone() is not None

    def get(self, **values: Any) -> M:
        """The one row for these values, or QuerySet.get()'s exceptions."""
        rows = self.fetch(**values)
        if len(rows) == 1:
            return rows[0]
        model: Any = self._model
        if not rows:
            raise model.DoesNotExist(f"{model._meta.object_name} matching query does not exist.")
        raise model.MultipleObjectsReturned(
            f"get() returned more than one {model._meta.object_name} -- it returned {len(rows)}!"
        )

    def update(self, changes: dict[str, Any], **values: Any) -> list[M]:
        """`QuerySet.update(**changes)` of the rows these values select, answering those
        rows as updated (UPDATE ... RETURNING): one statement for a write and the read
        after it, built once per database and changed fields. For a queryset of one
        table's model instances (no joins, slicing or locking); plain values, no
        expressions."""
        compiled, compiler, params = self._bind(values)
        statement, fields = self._update_sql(compiled, compiler, tuple(changes))
        connection = compiler.connection
        sets = [
            field.get_db_prep_save(value, connection)
            for field, value in zip(fields, changes.values(), strict=True)
        ]
        with transaction.mark_for_rollback_on_error(compiler.using):
            with connection.cursor() as cursor:
                cursor.execute(statement, sets + params)
                rows = cursor.fetchall()
        return _instances(compiler, compiled, compiler.using, rows)

    def update_sql(self, changes: dict[str, Any], **values: Any) -> str:
        """The statement update() sends for these changes (for tests)."""
        compiled, compiler, _ = self._bind(values)
        return self._update_sql(compiled, compiler, tuple(changes))[0]

    def _update_sql(
        self, compiled: _Compiled, compiler: Any, names: tuple[str, ...]
    ) -> tuple[str, tuple[Field, ...]]:
        key = (compiler.using, names)
        if key not in compiled.updates:
            query, meta = compiled.query, compiled.query.model._meta
            if (
                not compiled.models
                or len(query.alias_map) != 1
                or compiled.klass_info.get("related_klass_infos")
                or query.is_sliced
                or query.distinct
                or compiled.locks
            ):
                raise TypeError("update() changes the rows of one table's plain queryset")
            fields = tuple(meta.get_field(name) for name in names)
            if any(not field.concrete or field.primary_key for field in fields):
                raise TypeError(f"update() cannot change {names} of {meta.label}")
            where, params = compiler.compile(query.where)
            if tuple(params) != compiled.params:
                raise TypeError("update() takes the select's WHERE and its parameters alone")
            quote = compiler.connection.ops.quote_name
            select_fields = compiled.klass_info["select_fields"]
            returning = ", ".join(
                quote(compiled.select[index][0].target.column) for index in select_fields
            )
            sets = ", ".join(f"{quote(field.column)} = %s" for field in fields)
            compiled.updates[key] = (
                f"UPDATE {quote(meta.db_table)} SET {sets} WHERE {where} RETURNING {returning}",
                fields,
            )
        return compiled.updates[key]

    def sql(self, **values: Any) -> tuple[str, list[Any]]:
        """The statement and its parameters for these values (what fetch() sends)."""
        compiled, _, params = self._bind(values)
        return compiled.sql, params

    def exists_sql(self, **values: Any) -> tuple[str, list[Any]]:
        """The statement and its parameters exists() sends for these values."""
        compiled, _, params = self._bind(values, existence=True)
        return compiled.sql, params

    def queryset(self, **values: Any) -> QuerySet[M]:
        """The ORM's queryset for these values, which this compiles (for tests)."""
        return self._build(**values)

    def _bind(
        self, values: dict[str, Any], existence: bool = False
    ) -> tuple[_Compiled, Any, list[Any]]:
        if self._model is None:
            queryset = self._build(**{name: Param(name) for name in self._names})
            self._model, self._for_write = queryset.model, queryset._for_write
        if set(values) != set(self._names):
            raise TypeError(f"values for {self._names}, got {tuple(values)}")
        # The database the queryset would read (a locking read: the one it writes).
        if self._for_write:
            alias = router.db_for_write(self._model)
        else:
            alias = router.db_for_read(self._model)
        connection = connections[alias]
        # The shape: which optional values are None (none to look at for most queries).
        absent = (
            tuple(name for name in self._optional if values[name] is None) if self._optional else ()
        )
        compiled = self._compiled.get((alias, existence, absent)) or self._compile(
            alias, existence, absent
        )
        if compiled.locks and connection.get_autocommit():
            raise TransactionManagementError(
                "select_for_update cannot be used outside of a transaction."
            )
        compiler = connection.ops.compiler(compiled.compiler_class)(
            compiled.query, connection, alias
        )
        # What Django's iterables read from a compiler that ran the query.
        compiler.select, compiler.klass_info = compiled.select, compiled.klass_info
        compiler.col_count, compiler.annotation_col_map = compiled.col_count, {}
        params = list(compiled.params)
        for position, name, lookup in compiled.slots:
            params[position] = _bound(lookup, values[name], compiler, connection)
        return compiled, compiler, params

    def _compile(self, alias: str, existence: bool, absent: tuple[str, ...]) -> _Compiled:
        queryset = self._build(
            **{name: None if name in absent else Param(name) for name in self._names}
        )
        if existence:
            # What QuerySet.exists() asks of it: no ordering, one row (its columns unread).
            queryset = queryset.order_by().values_list("pk")[:1]
        if queryset._iterable_class not in (ModelIterable, ValuesListIterable):
            raise TypeError("a CompiledQuery gives model instances or values_list tuples")
        query = queryset.query
        if query.annotations or query.extra or queryset._prefetch_related_lookups:
            raise TypeError("a CompiledQuery takes no annotations, extra or prefetching")
        if queryset._known_related_objects:
            raise TypeError("a CompiledQuery is built from a model's manager")
        compiler = query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        if compiler.has_extra_select:
            raise TypeError("a CompiledQuery selects no extra columns")
        lookups = {id(lookup.rhs.slot): lookup for lookup in _param_lookups(query.where)}
        slots = []
        for position, param in enumerate(params):
            if isinstance(param, _Slot):
                if id(param) not in lookups:
                    raise TypeError(f"Param {param.name!r} is not the right side of a lookup")
                slots.append((position, param.name, lookups[id(param)]))
        missing = set(self._names) - set(absent) - {name for _, name, _ in slots}
        if missing:
            raise TypeError(f"Params not in the query: {sorted(missing)}")
        compiled = _Compiled(
            sql=sql,
            params=tuple(params),
            slots=tuple(slots),
            query=query,
            compiler_class=query.compiler,
            select=compiler.select,
            klass_info=compiler.klass_info,
            col_count=compiler.col_count,
            models=queryset._iterable_class is ModelIterable,
            fetch_mode=queryset._fetch_mode,
            # As the compiler checks (SQLite has no SELECT ... FOR UPDATE).
            locks=query.select_for_update
            and connections[alias].features.has_select_for_update
            and connections[alias].features.supports_transactions,
        )
        self._compiled[alias, existence, absent] = compiled
        return compiled


def _param_lookups(node: WhereNode) -> list[Lookup]:
    found = []
    for child in node.children:
        if isinstance(child, WhereNode):
            found += _param_lookups(child)
        elif isinstance(child, Lookup) and isinstance(child.rhs, Param):
            if child.bilateral_transforms:
                raise TypeError("a Param cannot sit in a lookup with bilateral transforms")
            found.append(child)
    return found


def _bound(lookup: Lookup, value: Any, compiler: Any, connection: Any) -> Any:
    """The value as the ORM binds it in this lookup: the lookup built with the value."""
    if value is None:
        raise ValueError(
            "a Param is never None (the ORM would compile IS NULL): name it in optional"
        )
    sql, params = type(lookup)(lookup.lhs, value).process_rhs(compiler, connection)
    if sql != "%s" or len(params) != 1 or params[0] is None:
        raise ValueError(f"{type(lookup).__name__} compiles {value!r} as {sql!r}")
    return params[0]


def _instances(compiler: Any, compiled: _Compiled, alias: str, rows: list[Any]) -> list[Any]:
    """Model instances from rows, as Django's ModelIterable makes them (no annotations,
    no known related objects: refused at compile)."""
    select, klass_info = compiled.select, compiled.klass_info
    fields = klass_info["select_fields"]
    start, end = fields[0], fields[-1] + 1
    init_list = [column[0].target.attname for column in select[start:end]]
    from_db = _get_from_db(klass_info["model"], compiled.fetch_mode)
    populators = get_related_populators(klass_info, select, alias, compiled.fetch_mode)
    instances: list[Any] = []
    peers: list[Any] = []
    for row in compiler.results_iter([rows]):
        instance = from_db(alias, init_list, row[start:end])
        if compiled.fetch_mode.track_peers:
            peers.append(weak_ref(instance))
            instance._state.peers = peers
        for populator in populators:
            populator.populate(row, instance)
        instances.append(instance)
    return instances


def save_fields(instance: Model, fields: tuple[str, ...]) -> None:
    """`instance.save(update_fields=fields)` with its UPDATE built once per model, fields
    and database: the same checks, statement, values, signals and state as Model.save()
    (for a model without parent models, select_on_save or generated columns)."""
    model = type(instance)
    using = router.db_for_write(model, instance=instance)
    instance._prepare_related_fields_for_save(operation_name="save")
    update_fields = frozenset(fields)
    pre_save.send(
        sender=model, instance=instance, raw=False, using=using, update_fields=update_fields
    )
    sql, params = update_statement(instance, fields, using)
    connection = connections[using]
    # Within it, as in save(): a failure or no row marks the transaction for rollback.
    with transaction.mark_for_rollback_on_error(using):
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            updated = cursor.rowcount
        if not updated:
            raise model.NotUpdated("Save with update_fields did not affect any rows.")
    instance._state.db = using
    instance._state.adding = False
    post_save.send(
        sender=model,
        instance=instance,
        created=False,
        update_fields=update_fields,
        raw=False,
        using=using,
    )


def update_statement(instance: Model, fields: tuple[str, ...], using: str) -> tuple[str, list[Any]]:
    """The UPDATE of these fields of `instance` by its primary key, as save() sends it;
    the fields' pre_save() run (an auto_now field takes the time now)."""
    columns, sql = _update_sql(type(instance), fields, using)
    connection = connections[using]
    params = [
        field.get_db_prep_save(field.pre_save(instance, False), connection) for field in columns
    ]
    pk = instance._meta.pk
    params.append(pk.get_db_prep_value(instance.pk, connection, prepared=False))
    return sql, params


@lru_cache(maxsize=16)
def _update_sql(
    model: type[Model], fields: tuple[str, ...], using: str
) -> tuple[tuple[Field, ...], str]:
    meta = model._meta
    if meta.parents or meta.select_on_save:
        raise TypeError("save_fields() saves a model without parents or select_on_save")
    # Model._save_table's order: the model's own concrete fields named.
    columns = tuple(
        field
        for field in meta.local_concrete_fields
        if not field.primary_key and (field.name in fields or field.attname in fields)
    )
    if len(columns) != len(set(fields)) or any(
        field.generated or hasattr(field, "get_placeholder_sql") for field in columns
    ):
        raise TypeError(f"save_fields() cannot write {fields} of {meta.label}")
    quote = connections[using].ops.quote_name
    table = quote(meta.db_table)
    sets = ", ".join(f"{quote(field.column)} = %s" for field in columns)
    sql = f"UPDATE {table} SET {sets} WHERE {table}.{quote(meta.pk.column)} = %s"
    return columns, sql

"""A throwaway database for a bench run, with the schema built from the models (or by
the migrations, for a bench that needs what only they make: the partitioned tables).

SQLite in a temporary directory, or, with DATABASE_URL set, a fresh database of its own
on that PostgreSQL server (one per run, named after the process: runs may overlap),
dropped afterwards. Django is set up inside it; the bench imports models after that.
"""

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def scratch_database(
    name: str, *, keep: bool = False, database: str | None = None, migrate: bool = False
) -> Iterator[str]:
    """Set Django up on a new database for bench `name`; yields what it is, for the
    printout. `keep` leaves the temporary directory (SQLite) in place. `database` (on
    PostgreSQL) names a database to use instead, kept afterwards and reused as it is when
    it exists: a bench can then time again without building its data again (tables of
    models added since are created, empty; columns added since are added; other changed
    columns are not). `migrate` builds the schema by running the migrations instead, as
    production does (a reused database gets the migrations added since)."""
    database_url = os.environ.get("DATABASE_URL", "")
    db_name = database or f"chargehub_bench_{name}_{os.getpid()}"
    tmp = Path(tempfile.mkdtemp(prefix=f"chargehub-bench-{name}-"))
    env = {"CHARGEHUB_VAR_DIR": str(tmp), "DEBUG": "0", "LOG_LEVEL": "WARNING"}
    if database and not database_url:
        raise SystemExit("A named database needs DATABASE_URL (PostgreSQL).")
    reused = bool(database) and _exists_postgres(database_url, db_name)
    if database_url and not reused:
        _recreate_postgres(database_url, db_name)
    if database_url:
        env["DATABASE_URL"] = _postgres_url(database_url, db_name)
    else:
        os.environ.pop("DATABASE_URL", None)
    try:
        _setup_django(env, migrate=migrate)
        if not database_url:
            yield f"SQLite ({tmp})"
        elif database:
            yield f"PostgreSQL ({db_name}, {'reused' if reused else 'kept'})"
        else:
            yield "PostgreSQL"
    finally:
        if database_url and not database:
            from django.db import connections

            connections.close_all()
            _recreate_postgres(database_url, db_name, drop_only=True)
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)


def _postgres_url(database_url: str, name: str) -> str:
    return urlunsplit(urlsplit(database_url)._replace(path=f"/{name}"))


def _exists_postgres(database_url: str, db_name: str) -> bool:
    import psycopg

    with psycopg.connect(_postgres_url(database_url, "postgres"), autocommit=True) as conn:
        query = "SELECT 1 FROM pg_database WHERE datname = %s"
        return conn.execute(query, [db_name]).fetchone() is not None


def _recreate_postgres(database_url: str, db_name: str, drop_only: bool = False) -> None:
    import psycopg

    with psycopg.connect(_postgres_url(database_url, "postgres"), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {db_name} WITH (FORCE)")
        if not drop_only:
            conn.execute(f"CREATE DATABASE {db_name}")


def _setup_django(env: dict[str, str], migrate: bool = False) -> None:
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chargehub.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.apps import apps
    from django.conf import settings
    from django.core.management import call_command

    # The test Client (bench/portal.py) sends "testserver" as the host.
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    if migrate:
        call_command("migrate", verbosity=0, interactive=False)
        return
    # The schema from the models (as pytest --no-migrations does).
    settings.MIGRATION_MODULES = {app.label: None for app in apps.get_app_configs()}
    # On a reused database this creates only the tables it lacks.
    call_command("migrate", run_syncdb=True, verbosity=0, interactive=False)
    _add_missing_columns()


def _add_missing_columns() -> None:
    """Give a reused database the columns models gained since it was built (a new
    nullable link, say), so newer code can read the old data."""
    from django.apps import apps
    from django.db import connection

    with connection.cursor() as cursor:
        tables = set(connection.introspection.table_names(cursor))
    for model in apps.get_models():
        if not model._meta.managed or model._meta.db_table not in tables:
            continue
        with connection.cursor() as cursor:
            description = connection.introspection.get_table_description(
                cursor, model._meta.db_table
            )
        columns = {column.name for column in description}
        missing = [
            field for field in model._meta.local_concrete_fields if field.column not in columns
        ]
        if missing:
            with connection.schema_editor() as editor:
                for field in missing:
                    editor.add_field(model, field)

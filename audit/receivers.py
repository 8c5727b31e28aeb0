"""The audit listens to Django's model signals of the models in settings.AUDIT_MODELS
(and a user's groups and permissions), and to stations' command_finished for the
commands staff send to chargers; the records are audit/records.py's."""

from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Model
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save

from audit import records
from stations import signals
from stations.models import ChargerCommand


def _before_save(sender: type[Model], instance: Model, **kwargs: Any) -> None:
    if not kwargs.get("raw"):
        records.before_save(instance)


def _saved(sender: type[Model], instance: Model, created: bool, **kwargs: Any) -> None:
    if not kwargs.get("raw"):
        records.saved(instance, created, kwargs.get("update_fields"))


def _deleted(sender: type[Model], instance: Model, **kwargs: Any) -> None:
    records.deleted(instance)


def _names(instance: Model, field: str) -> list[str]:
    related = getattr(instance, field).all()
    if field == "user_permissions":
        return sorted(f"{p.content_type.app_label}.{p.codename}" for p in related)
    return sorted(str(item) for item in related)


def _relation_changed(sender: type[Model], instance: Model, action: str, **kwargs: Any) -> None:
    # Only a user's side (user.groups.set()): what admin's and the API's forms do.
    if kwargs.get("reverse") or not isinstance(instance, get_user_model()):
        return
    field = "groups" if sender is get_user_model().groups.through else "user_permissions"
    if action.startswith("pre_"):
        instance._audit_relation = _names(instance, field)  # type: ignore[attr-defined]
    elif hasattr(instance, "_audit_relation"):
        before = instance._audit_relation  # type: ignore[attr-defined]
        records.relation_changed(instance, field, before, _names(instance, field))
        del instance._audit_relation  # type: ignore[attr-defined]


def _command_finished(sender: type[Model], command: ChargerCommand, **kwargs: Any) -> None:
    records.command_sent(command)


def connect() -> None:
    for label in settings.AUDIT_MODELS:
        model = apps.get_model(label)
        uid = f"audit.{label}"
        pre_save.connect(_before_save, sender=model, dispatch_uid=f"{uid}.pre_save")
        post_save.connect(_saved, sender=model, dispatch_uid=f"{uid}.post_save")
        post_delete.connect(_deleted, sender=model, dispatch_uid=f"{uid}.post_delete")
    signals.command_finished.connect(
        _command_finished, sender=ChargerCommand, dispatch_uid="audit.command_finished"
    )
    user = get_user_model()
    for through in (user.groups.through, user.user_permissions.through):
        m2m_changed.connect(
            _relation_changed, sender=through, dispatch_uid=f"audit.{through.__name__}"
        )

"""What an audit record holds, in one place: which changes are recorded (the models in
settings.AUDIT_MODELS, changed in a staff request: audit/context.py; the commands staff
send to chargers), the fields before and after (only those that changed; secrets as
"(hidden)"), and writing the record.
"""

import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Model

from audit.context import Actor, current_actor
from audit.models import AuditRecord
from stations.models import ChargerCommand

# Fields whose value never goes into a record (that they changed does).
SECRET_FIELDS = {"password", "password_hash", "digest", "secret", "key"}
HIDDEN = "(hidden)"


def _plain(value: Any) -> Any:
    try:
        return json.loads(json.dumps(value, cls=DjangoJSONEncoder))
    except (TypeError, ValueError):
        return str(value)


def snapshot(instance: Model) -> dict[str, Any]:
    """The instance's stored fields as JSON values, by attribute name (`site_id`)."""
    return {
        field.attname: _plain(field.value_from_object(instance))
        for field in instance._meta.concrete_fields
    }


def _masked(fields: dict[str, Any]) -> dict[str, Any]:
    return {name: HIDDEN if name in SECRET_FIELDS else value for name, value in fields.items()}


def differences(
    before: dict[str, Any], after: dict[str, Any], only: Any = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The fields that changed (of `only`, a save's update_fields, when given)."""
    names = [
        name
        for name in after
        if before.get(name) != after[name]
        and (only is None or name in only or name.removesuffix("_id") in only)
    ]
    return (
        _masked({name: before.get(name) for name in names}),
        _masked({name: after[name] for name in names}),
    )


def record(
    actor: Actor,
    action: str,
    instance: Model,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> AuditRecord:
    return AuditRecord.objects.create(
        actor=actor.user,
        actor_email=actor.user.get_username()[:254],
        door=actor.door,
        path=actor.path,
        action=action,
        object_type=instance._meta.label_lower,
        object_id=str(instance.pk)[:64],
        object_repr=str(instance)[:200],
        before=before,
        after=after,
    )


def before_save(instance: Model) -> None:
    """Keep the stored row of an instance about to be changed by staff."""
    if current_actor() is None or instance._state.adding or instance.pk is None:
        return
    stored = type(instance)._base_manager.filter(pk=instance.pk).first()
    instance._audit_before = snapshot(stored) if stored is not None else None  # type: ignore[attr-defined]


def saved(instance: Model, created: bool, update_fields: Any) -> AuditRecord | None:
    actor = current_actor()
    if actor is None:
        return None
    after = snapshot(instance)
    if created:
        return record(actor, AuditRecord.Action.CREATED, instance, None, _masked(after))
    before = getattr(instance, "_audit_before", None)
    if before is None:
        return None
    instance._audit_before = after  # type: ignore[attr-defined]  # a second save diffs from here
    old, new = differences(before, after, update_fields)
    if not new:
        return None  # saved unchanged
    return record(actor, AuditRecord.Action.CHANGED, instance, old, new)


def deleted(instance: Model) -> AuditRecord | None:
    actor = current_actor()
    if actor is None:
        return None
    return record(actor, AuditRecord.Action.DELETED, instance, _masked(snapshot(instance)), None)


def command_sent(command: ChargerCommand) -> AuditRecord | None:
    """A command a member of staff sent to a charger, once it has its outcome (answered,
    CALLERROR, timeout, offline): the charger is the object, what was asked and what came
    back are `after`. Commands of the code alone (tasks, campaigns' own) have no issuer."""
    user = command.issued_by
    if user is None or not user.is_staff:
        return None
    door = command.source if command.source in AuditRecord.Door.values else AuditRecord.Door.ADMIN
    after = {
        "command": command.action,
        "request": command.payload,
        "status": command.status,
        "answer": command.response if command.response is not None else command.error,
        "source": command.source,
    }
    return record(
        Actor(user=user, door=door, path=""),
        AuditRecord.Action.COMMAND,
        command.charge_point,
        None,
        _plain(after),
    )


def relation_changed(
    instance: Model, field: str, names_before: list[str], names_after: list[str]
) -> AuditRecord | None:
    """A user's groups (roles) or permissions changed: the names before and after."""
    actor = current_actor()
    if actor is None or names_before == names_after:
        return None
    return record(
        actor,
        AuditRecord.Action.CHANGED,
        instance,
        {field: names_before},
        {field: names_after},
    )

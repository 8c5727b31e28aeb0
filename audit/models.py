from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class AuditRecord(models.Model):
    """One change a member of staff made, in admin or through the staff API (or a command
    they sent to a charger): who, when, what, and the fields before and after
    (audit/records.py writes them).

    Written once, never changed or deleted from the application: `save()` refuses an
    update, `delete()` refuses, and admin shows records read-only.
    """

    class Action(models.TextChoices):
        CREATED = "created", _("created")
        CHANGED = "changed", _("changed")
        DELETED = "deleted", _("deleted")
        # A command a member of staff sent to a charger (Reset, ChangeConfiguration,
        # InstallCertificate, …): the charger is the object, the request and answer after.
        COMMAND = "command", _("command sent")

    class Door(models.TextChoices):
        ADMIN = "admin", _("admin")
        API = "api", _("staff API")

    at = models.DateTimeField(_("when"), default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("who"),
    )
    # Kept as it was: the account may be renamed or deleted later.
    actor_email = models.CharField(_("who (email)"), max_length=254)
    door = models.CharField(_("through"), max_length=8, choices=Door.choices)
    action = models.CharField(_("action"), max_length=8, choices=Action.choices)
    # "app_label.modelname", as Django's content types name a model.
    object_type = models.CharField(_("kind"), max_length=100, db_index=True)
    object_id = models.CharField(_("object id"), max_length=64)
    object_repr = models.CharField(_("object"), max_length=200)
    # {"field": value}: only the fields that changed (all of them on creation/deletion).
    before = models.JSONField(_("before"), null=True, blank=True)
    after = models.JSONField(_("after"), null=True, blank=True)
    path = models.CharField(_("request"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("audit record")
        verbose_name_plural = _("audit records")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        return f"{self.actor_email} {self.action} {self.object_type} {self.object_repr}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise PermissionError("Audit records are never changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise PermissionError("Audit records are never deleted")

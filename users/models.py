from typing import Any, ClassVar

from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra: Any) -> "User":
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> "User":
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> "User":
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra)


class User(AbstractUser):
    """A driver or a member of staff; people log in with their email address."""

    username = None  # type: ignore[assignment]
    email = models.EmailField(_("email address"), unique=True)
    language = models.CharField(
        _("language"), max_length=8, default="sv", choices=[("sv", "Svenska"), ("en", "English")]
    )

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    objects = UserManager()

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self) -> str:
        return self.email

    def save(self, *args: Any, **kwargs: Any) -> None:
        # AbstractBaseUser keeps a new raw password in _password until it is saved (None
        # for a hash upgrade at login): a changed password, or a deactivated account,
        # revokes the API tokens made with the old credentials (users/api_tokens.py).
        revoke_api_tokens = not self._state.adding and (
            self._password is not None or not self.is_active
        )
        super().save(*args, **kwargs)
        if revoke_api_tokens:
            ApiToken.objects.filter(user=self).delete()


class ApiToken(models.Model):
    """A user's token for the API (`Authorization: Token <key>`), stored as its SHA-256.

    The key itself is shown once, when it is made (users/api_tokens.py); the prefix lets
    its owner and staff tell tokens apart without it.
    """

    user = models.OneToOneField(
        User, models.CASCADE, related_name="api_token", verbose_name=_("user")
    )
    prefix = models.CharField(_("prefix"), max_length=8)
    digest = models.CharField(_("SHA-256 of the key"), max_length=64, unique=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"

    def is_expired(self, now: Any = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())


class IdToken(models.Model):
    """Something a driver identifies with at a charger: an RFID card, an app token.

    `uid` is the OCPP idTag (CiString20 in 1.6). `group_id` is sent as parentIdTag so that
    a charger can treat cards of one fleet alike.
    """

    class Type(models.TextChoices):
        RFID = "RFID", _("RFID card")
        APP = "App", _("App / portal")
        CENTRAL = "Central", _("Central (staff)")

    class Status(models.TextChoices):
        ACCEPTED = "Accepted", _("Accepted")
        BLOCKED = "Blocked", _("Blocked")
        # Expired is derived from expires_at; Invalid is what an unknown uid gets.

    uid = models.CharField(_("id tag"), max_length=20, unique=True)
    type = models.CharField(_("type"), max_length=16, choices=Type.choices, default=Type.RFID)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.ACCEPTED
    )
    name = models.CharField(_("name"), max_length=100, blank=True)
    owner = models.ForeignKey(
        User,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="id_tokens",
        verbose_name=_("owner"),
    )
    group_id = models.CharField(
        _("group (parent id tag)"),
        max_length=20,
        blank=True,
        help_text=_("Sent to chargers as parentIdTag; tokens of one fleet share it."),
    )
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("id token")
        verbose_name_plural = _("id tokens")
        ordering = ["uid"]

    def __str__(self) -> str:
        return f"{self.uid} ({self.name})" if self.name else self.uid

    def save(self, *args: Any, **kwargs: Any) -> None:
        # IdToken is case-insensitive in OCPP (CiString20): keep one spelling.
        self.uid = self.uid.strip().upper()
        super().save(*args, **kwargs)

    def is_expired(self, now: Any = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())

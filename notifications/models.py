"""What drivers asked to be told about."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from stations.models import Connector


class Watch(models.Model):
    """A driver waits for a connector to become Available ("Notify me when free").

    Open until the driver has been told (notified_at); a told watch stays as history and
    the driver may open a new one. One open watch per driver and connector: asking twice
    changes nothing.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.CASCADE, related_name="watches", verbose_name=_("user")
    )
    connector = models.ForeignKey(
        Connector, models.CASCADE, related_name="watches", verbose_name=_("connector")
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    notified_at = models.DateTimeField(_("notified at"), null=True, blank=True)

    class Meta:
        verbose_name = _("watch")
        verbose_name_plural = _("watches")
        constraints = [
            models.UniqueConstraint(
                fields=["user", "connector"],
                condition=Q(notified_at__isnull=True),
                name="notifications_one_open_watch_per_user_connector",
            )
        ]
        indexes = [
            # The receiver's question on every status change: anyone waiting here?
            models.Index(
                fields=["connector"],
                condition=Q(notified_at__isnull=True),
                name="notifications_open_watches",
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} waits for {self.connector}"


class Kind(models.TextChoices):
    """What a driver (or a member of staff) may be told, named as the preferences name
    it; each kind's rule (channels by default, transactional or not, staff) is in
    notifications/preferences.py `KINDS`, which the portal's page and the API list."""

    RECEIPTS = "receipts", _("Receipts")
    INVOICES = "invoices", _("Invoices and credit notes")
    CHARGING_FINISHED = "charging_finished", _("Charging finished")
    PAYMENT_PROBLEMS = "payment_problems", _("Payment problems")
    SESSION_STARTED = "session_started", _("Charging started")
    SESSION_ENDED = "session_ended", _("Session ended, with its cost")
    WALLET_LOW = "wallet_low", _("Wallet running low")
    BOOKINGS = "bookings", _("Bookings: confirmed, ended unused")
    BOOKING_REMINDER = "booking_reminder", _("Booking reminder")
    IDLE_FEE_SOON = "idle_fee_soon", _("Idle fee starts soon")
    CARD_EXPIRING = "card_expiring", _("Saved card expiring")
    # Staff (preferences.KINDS says who): on the channels chosen, email or the daily digest.
    PAYER_BLOCKED = "payer_blocked", _("Payer blocked by failed payments")
    WEBHOOK_DISABLED = "webhook_disabled", _("Webhook endpoint disabled")
    TICKET_ALERTS = "ticket_alerts", _("Ticket alerts")


class Preferences(models.Model):
    """On which channels a driver wants each kind of message, and their quiet hours.

    Created on the first save of the driver's notification settings: a driver without a
    row, or a kind not in `channels`, gets the kind's defaults
    (notifications.preferences.wants).
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        models.CASCADE,
        related_name="notification_preferences",
        verbose_name=_("user"),
    )
    # The channels chosen per kind: {"charging_finished": ["email", "webpush"], ...};
    # a kind left out has its defaults (notifications/preferences.py KINDS).
    channels = models.JSONField(_("channels"), default=dict, blank=True)
    # Quiet hours (local time, settings.TIME_ZONE): messages that can wait are delivered
    # after them; both empty: none.
    quiet_start = models.TimeField(_("quiet hours from"), null=True, blank=True)
    quiet_end = models.TimeField(_("quiet hours until"), null=True, blank=True)
    # Staff: the alerts of STAFF_KINDS in one daily email (with the ticket alerts of the
    # sites they cover) instead of one email each (notifications/digest.py).
    staff_digest = models.BooleanField(
        _("staff alerts in the daily digest"),
        default=False,
        help_text=_("One email a day with the staff alerts instead of one email per alert."),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("notification preferences")
        verbose_name_plural = _("notification preferences")

    def __str__(self) -> str:
        return f"Notification preferences of {self.user}"


class SessionNotice(models.Model):
    """A driver was told about this session: the marker that makes it once per session,
    however often the task runs or the charger retransmits its StopTransaction."""

    class Kind(models.TextChoices):
        CHARGING_FINISHED = "charging_finished", _("Charging finished")
        CAR_STOPPED = "car_stopped", _("Car stopped charging")
        WAITING_FOR_POWER = "waiting_for_power", _("Waiting for room on the grid connection")

    session = models.ForeignKey(
        "stations.ChargingSession",
        models.CASCADE,
        related_name="notices",
        verbose_name=_("charging session"),
    )
    kind = models.CharField(_("kind"), max_length=32, choices=Kind.choices)
    sent_at = models.DateTimeField(_("sent at"), default=timezone.now)

    class Meta:
        verbose_name = _("session notice")
        verbose_name_plural = _("session notices")
        constraints = [
            models.UniqueConstraint(
                fields=["session", "kind"], name="notifications_one_notice_per_session_kind"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} for session {self.session_id}"


class PushSubscription(models.Model):
    """A browser (or the installed portal) that accepts Web Push for a driver.

    What the browser's PushManager.subscribe() answered: the push service's endpoint and
    the keys that encrypt a message for it (RFC 8291). A 410 Gone from the push service
    removes the row (notifications/webpush.py): the browser dropped it.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.CASCADE,
        related_name="push_subscriptions",
        verbose_name=_("user"),
    )
    endpoint = models.URLField(_("endpoint"), max_length=1000, unique=True)
    # The browser's P-256 public key and its 16-byte auth secret, base64url as sent.
    p256dh = models.CharField(_("public key"), max_length=200)
    auth = models.CharField(_("auth secret"), max_length=100)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("push subscription")
        verbose_name_plural = _("push subscriptions")

    def __str__(self) -> str:
        return f"Push subscription of {self.user}"


class NearbyWatch(models.Model):
    """ "A free charger near me": a driver waits for a matching connector within a radius.

    One per driver. The position is the driver's, kept only while the watch runs: the
    row is deleted when the driver is told, stops it, or it expires
    (notifications/nearby.py).
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        models.CASCADE,
        related_name="nearby_watch",
        verbose_name=_("user"),
    )
    latitude = models.FloatField(_("latitude"))
    longitude = models.FloatField(_("longitude"))
    radius_km = models.DecimalField(_("radius (km)"), max_digits=5, decimal_places=1)
    # Blank: any type.
    connector_type = models.CharField(
        _("connector type"), max_length=16, choices=Connector.Type.choices, blank=True
    )
    min_power_kw = models.DecimalField(
        _("minimum power (kW)"), max_digits=7, decimal_places=1, null=True, blank=True
    )
    # The box around the position that holds the radius (nearby.box_around): a freed
    # connector outside it is refused in SQL, and only real candidates reach Python.
    south = models.FloatField(_("south"))
    north = models.FloatField(_("north"))
    west = models.FloatField(_("west"))
    east = models.FloatField(_("east"))
    started_at = models.DateTimeField(_("started at"), default=timezone.now)
    position_at = models.DateTimeField(_("position from"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires at"))

    class Meta:
        verbose_name = _("nearby watch")
        verbose_name_plural = _("nearby watches")
        indexes = [
            # The bounding box of a freed connector (nearby.matches): a range on latitude,
            # then longitude, in SQL before any distance is computed.
            models.Index(fields=["latitude", "longitude"], name="notifications_nearby_box"),
        ]

    def __str__(self) -> str:
        return f"{self.user} looks for a charger nearby"


class OutboxMessage(models.Model):
    """One message to deliver on one channel (notifications/outbox.py).

    Written in the same transaction as the change that causes it, so nothing is lost
    when a worker or the broker is down; delivered by Celery, or by the beat sweep for
    what a dead worker left. The key is unique: the same event enqueued twice is one
    message, and a message is claimed by a conditional UPDATE before it is sent, so two
    workers never both send it.
    """

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    kind = models.CharField(_("kind"), max_length=64)
    channel = models.CharField(_("channel"), max_length=16)
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.CASCADE,
        null=True,
        blank=True,
        related_name="outbox_messages",
        verbose_name=_("recipient"),
    )
    payload = models.JSONField(_("payload"), default=dict)
    key = models.CharField(_("idempotency key"), max_length=200, unique=True)
    state = models.CharField(_("state"), max_length=16, choices=State, default=State.PENDING)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    next_attempt_at = models.DateTimeField(_("next attempt at"), default=timezone.now)
    # While SENDING: the claim holds until then; past it, the sweep takes the message over.
    claimed_until = models.DateTimeField(_("claimed until"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta:
        verbose_name = _("outbox message")
        verbose_name_plural = _("outbox messages")
        indexes = [
            # The sweep's question: what is due, or left claimed by a dead worker?
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(state__in=["pending", "sending"]),
                name="notifications_outbox_due",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} by {self.channel} ({self.key})"


class Notification(models.Model):
    """A message in the driver's list in the portal (the in-portal channel,
    notifications/transports.py InPortal); unread until they open the list.

    One per outbox message (the key): a delivery the sweep repeats after a crash finds
    the row it made before.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.CASCADE,
        related_name="notifications",
        verbose_name=_("user"),
    )
    kind = models.CharField(_("kind"), max_length=64)
    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("body"), blank=True)
    url = models.CharField(_("link"), max_length=500, blank=True)
    key = models.CharField(_("key"), max_length=200, unique=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        indexes = [
            # The header's question on every page: how many unread?
            models.Index(
                fields=["user"], condition=Q(read_at__isnull=True), name="notifications_unread"
            ),
            models.Index(fields=["user", "-created_at"], name="notifications_list"),
        ]

    def __str__(self) -> str:
        return f"{self.title} for {self.user}"


class WebhookEndpoint(models.Model):
    """An integrator's URL that receives events, signed with its secret
    (notifications/webhooks.py). Disabled after WEBHOOKS_DISABLE_AFTER_FAILURES failed
    deliveries in a row; its owner is told."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.CASCADE,
        related_name="webhook_endpoints",
        verbose_name=_("owner"),
    )
    url = models.URLField(_("URL"), max_length=500)
    # Shown once when made (API, admin); the receiver keeps it to verify signatures.
    secret = models.CharField(_("signing secret"), max_length=100, editable=False)
    # Event names (webhooks.EVENTS); empty: every event.
    events = models.JSONField(_("events"), default=list, blank=True)
    enabled = models.BooleanField(_("enabled"), default=True)
    consecutive_failures = models.PositiveIntegerField(_("consecutive failures"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    disabled_at = models.DateTimeField(_("disabled at"), null=True, blank=True)

    class Meta:
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")

    def __str__(self) -> str:
        return self.url

    def wants(self, event: str) -> bool:
        return not self.events or event in self.events


class DigestItem(models.Model):
    """A staff alert held for its recipient's daily digest (notifications/digest.py),
    written where the alert would have been emailed; one per key, like an outbox
    message. Sent: the digest email that carried it is in the outbox."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.CASCADE,
        related_name="digest_items",
        verbose_name=_("user"),
    )
    kind = models.CharField(_("kind"), max_length=64)
    subject = models.CharField(pgettext_lazy("email", "subject"), max_length=300)
    text = models.TextField(_("text"))
    key = models.CharField(_("idempotency key"), max_length=200, unique=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta:
        verbose_name = _("digest item")
        verbose_name_plural = _("digest items")
        indexes = [
            models.Index(
                fields=["user", "created_at"],
                condition=Q(sent_at__isnull=True),
                name="notifications_digest_pending",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} for {self.user} ({self.key})"

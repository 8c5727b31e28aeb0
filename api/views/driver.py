"""A driver's own things under /api/v1/me/: sessions, tokens, invoices, wallet, reservations,
bookings.

Every queryset starts from the logged-in driver, so another driver's object is not
found (404) rather than forbidden: the API does not tell what exists.
"""

import secrets
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.http import HttpResponse
from django.utils.cache import patch_cache_control
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, mixins, renderers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from api.query import MySessionQuery
from api.serializers import (
    BookingSerializer,
    BookSerializer,
    CommandAnswerSerializer,
    InvoiceSerializer,
    NotificationSettingsSerializer,
    OwnTokenSerializer,
    ReservationSerializer,
    ReserveSerializer,
    SessionDetailSerializer,
    SessionSerializer,
    StartedSerializer,
    StartSessionSerializer,
    WalletEntrySerializer,
    WalletSerializer,
)
from api.views.errors import command_error_response
from billing import documents
from billing.models import Invoice, WalletEntry
from billing.money import CURRENCY
from billing.standing import payer_refusal
from billing.wallet import wallet_balance
from charging import bookings, refusals, reservations, start_stop, tokens
from notifications import preferences
from notifications.models import Preferences
from stations.models import Booking, ChargingSession, Reservation
from users.models import IdToken, User

COMMAND_ERRORS = {
    400: OpenApiResponse(description="Invalid command"),
    502: OpenApiResponse(description="The charger is offline or answered with an error"),
    504: OpenApiResponse(description="The charger did not answer in time"),
}


SOURCE = "api"  # recorded with the commands the API sends (ChargerCommand.source)


def own_token(user: User, uid: str | None) -> IdToken | None:
    """The token to charge with: the driver's own one asked for (the rules then say if it
    cannot charge), else their oldest usable one; None (the rules then use the App token,
    as the portal does) when they have none."""
    if not uid:
        return tokens.usable_tokens(user).order_by("created_at", "id").first()
    token = tokens.own_tokens(user).filter(uid=uid.strip().upper()).first()
    if token is None:
        raise refusals.Refused(
            _("You have no token %(uid)s: see /api/v1/me/tokens/.") % {"uid": uid},
            HTTPStatus.NOT_FOUND,
        )
    return token


class MySessionViewSet(viewsets.ReadOnlyModelViewSet):
    """The driver's charging sessions, newest first; the detail has the cost so far."""

    def get_queryset(self) -> QuerySet[ChargingSession]:
        if getattr(self, "swagger_fake_view", False):  # the schema: no user
            return ChargingSession.objects.none()
        sessions = ChargingSession.objects.filter(id_token__owner=self.request.user)
        if status_filter := MySessionQuery.read(self.request).get("status"):
            sessions = sessions.filter(status=status_filter)
        return sessions.select_related("charge_point__site", "connector", "id_token__owner")

    def get_serializer_class(self) -> type[SessionSerializer]:
        return SessionDetailSerializer if self.action == "retrieve" else SessionSerializer

    @extend_schema(parameters=[MySessionQuery])
    def list(self, request: Request) -> Response:
        return super().list(request)

    @extend_schema(
        summary="Start charging",
        request=StartSessionSerializer,
        responses={
            202: StartedSerializer,
            400: OpenApiResponse(
                description=(
                    "A payment method that cannot be chosen, or a departure_time and "
                    "energy_kwh that cannot be planned for"
                )
            ),
            403: OpenApiResponse(description="Money stops this driver from starting"),
            404: OpenApiResponse(description="The driver has no token with that id tag"),
            409: OpenApiResponse(
                description=(
                    "A blocked or expired token, the site is out of service, or the charger refused"
                )
            ),
            **COMMAND_ERRORS,
        },
    )
    @action(detail=False, methods=["post"], serializer_class=StartSessionSerializer)
    def start(self, request: Request) -> Response:
        """Ask the charger to start; the session appears once the charger reports it."""
        serializer = StartSessionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        connector = serializer.validated_data["connector"]
        uid = serializer.validated_data.get("id_token")
        try:
            # A connector the driver reserved starts only for the id tag it is held for
            # (OCPP 1.6 §5.13): charging.start_stop.start() picks it when given no token.
            held = None if uid else reservations.held_token(request.user, connector)
            token = start_stop.start(
                request.user,
                connector,
                held or own_token(request.user, uid),
                serializer.validated_data.get("payment_method"),
                source=SOURCE,
                departure=serializer.validated_data.get("departure_time"),
                energy_kwh=serializer.validated_data.get("energy_kwh"),
            )
        except refusals.Refused as refused:
            return refused_response(refused)
        data = {"status": "Accepted", "connector": connector.pk, "id_tag": token.uid}
        return Response(StartedSerializer(data).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="Stop charging",
        request=None,
        responses={
            202: CommandAnswerSerializer,
            409: OpenApiResponse(description="Not active, or the charger refused"),
            **COMMAND_ERRORS,
        },
    )
    @action(detail=True, methods=["post"])
    def stop(self, request: Request, pk: int) -> Response:
        """Ask the charger to stop; the session closes when the charger reports it."""
        session = self.get_object()
        try:
            start_stop.stop(request.user, session, source=SOURCE)
        except refusals.Refused as refused:
            return refused_response(refused)
        return Response({"status": "Accepted"}, status=status.HTTP_202_ACCEPTED)


class MyTokenViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """The driver's RFID cards and app tokens. A lost card is blocked, not deleted: its
    sessions stay on record."""

    serializer_class = OwnTokenSerializer

    def get_queryset(self) -> QuerySet[IdToken]:
        if getattr(self, "swagger_fake_view", False):
            return IdToken.objects.none()
        return IdToken.objects.filter(owner=self.request.user)

    def perform_create(self, serializer: OwnTokenSerializer) -> None:
        uid = serializer.validated_data.get("uid")
        if uid:
            serializer.save(owner=self.request.user, type=IdToken.Type.RFID)
        else:
            # 10 random bytes, 20 hex digits: the longest idTag OCPP 1.6 allows (CiString20).
            serializer.save(
                owner=self.request.user, type=IdToken.Type.APP, uid=secrets.token_hex(10).upper()
            )

    def perform_update(self, serializer: OwnTokenSerializer) -> None:
        if "uid" in serializer.validated_data:
            raise ValidationError({"uid": _("A token's id tag cannot be changed.")})
        serializer.save()

    def _set_status(self, token_status: str) -> Response:
        token = self.get_object()
        token.status = token_status
        token.save(update_fields=["status"])
        return Response(self.get_serializer(token).data)

    @extend_schema(request=None, responses=OwnTokenSerializer)
    @action(detail=True, methods=["post"])
    def block(self, request: Request, pk: int) -> Response:
        return self._set_status(IdToken.Status.BLOCKED)

    @extend_schema(request=None, responses=OwnTokenSerializer)
    @action(detail=True, methods=["post"])
    def unblock(self, request: Request, pk: int) -> Response:
        return self._set_status(IdToken.Status.ACCEPTED)


class PDFRenderer(renderers.BaseRenderer):
    """Lets a client ask for `Accept: application/pdf`; the view returns the bytes."""

    media_type = "application/pdf"
    format = "pdf"
    charset = None
    render_style = "binary"

    def render(
        self,
        data: object,
        accepted_media_type: str | None = None,
        renderer_context: dict | None = None,
    ) -> bytes:
        if isinstance(data, bytes):
            return data
        # An error (404, 401) while the client asked for a PDF.
        return renderers.JSONRenderer().render(data)


class MyInvoiceViewSet(viewsets.ReadOnlyModelViewSet):
    """The driver's invoices, receipts and credit notes (not a fleet's, nor a guest's)."""

    serializer_class = InvoiceSerializer

    def get_queryset(self) -> QuerySet[Invoice]:
        if getattr(self, "swagger_fake_view", False):
            return Invoice.objects.none()
        user = self.request.user
        # The rule of who sees what is billing's; "me" narrows it to the driver's own
        # account, also for staff, who see every document through it.
        return documents.visible_to(user).filter(account__user=user)

    @extend_schema(
        summary="The document as PDF",
        responses={(200, "application/pdf"): OpenApiTypes.BINARY},
    )
    @action(
        detail=True,
        methods=["get"],
        renderer_classes=[renderers.JSONRenderer, PDFRenderer],
    )
    def pdf(self, request: Request, pk: int) -> HttpResponse:
        invoice = self.get_object()
        response = HttpResponse(documents.render_pdf(invoice), content_type="application/pdf")
        response["Content-Disposition"] = content_disposition_header(
            as_attachment=True, filename=f"{invoice.display_number}.pdf"
        )
        # Personal data: no shared cache may keep it.
        patch_cache_control(response, private=True, no_store=True)
        return response


class MyWalletView(generics.GenericAPIView):
    serializer_class = WalletSerializer

    @extend_schema(summary="Wallet balance and whether money stops you from starting")
    def get(self, request: Request) -> Response:
        data = {
            "currency": CURRENCY,
            "balance": wallet_balance(request.user),
            "minimum_to_start": settings.BILLING_WALLET_MINIMUM,
            "refusal": payer_refusal(request.user),
        }
        return Response(self.get_serializer(data).data)


class MyNotificationSettingsView(generics.GenericAPIView):
    """On which channels the driver wants each kind of notification, and quiet hours, as
    on the portal page "My account → Notifications"; `kinds` describes each kind."""

    serializer_class = NotificationSettingsSerializer

    def get_object(self) -> Preferences:
        # The one object this view shows and changes (DRF's OPTIONS asks for it too).
        return preferences.preferences_of(self.request.user)

    def _answer(self) -> Response:
        saved = self.get_object()
        user = self.request.user
        kinds = [
            {
                "kind": kind,
                "label": kind.label,
                "description": preferences.KINDS[kind].description,
                "transactional": preferences.KINDS[kind].transactional,
                "always": sorted(preferences.KINDS[kind].always),
                "default": sorted(preferences.KINDS[kind].default),
            }
            for kind in preferences.kinds_for(user)
        ]
        notes = []
        pushed = preferences.push_without_device(user, saved)
        if pushed:
            notes.append(
                _(
                    "No device of yours takes push: until one does, these are listed in the "
                    "portal instead: %(kinds)s."
                )
                % {"kinds": ", ".join(str(kind.label) for kind in pushed)}
            )
        data = {
            **preferences.choices_of(saved),
            "payment_problems": True,
            "kinds": kinds,
            "push_devices": user.push_subscriptions.count(),
            "notes": notes,
        }
        return Response(self.get_serializer(data).data)

    @extend_schema(summary="Your notification choices")
    def get(self, request: Request) -> Response:
        return self._answer()

    @extend_schema(summary="Choose on which channels you get each kind of notification")
    def put(self, request: Request) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        preferences.save_choices(request.user, dict(serializer.validated_data))
        return self._answer()


class MyWalletEntryList(generics.ListAPIView):
    """The wallet's ledger, newest first."""

    serializer_class = WalletEntrySerializer

    def get_queryset(self) -> QuerySet[WalletEntry]:
        if getattr(self, "swagger_fake_view", False):
            return WalletEntry.objects.none()
        return WalletEntry.objects.filter(user=self.request.user).order_by("-created_at", "-id")


class MyReservationViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Connectors held for one of the driver's tokens (OCPP 1.6 ReserveNow)."""

    serializer_class = ReservationSerializer

    def get_queryset(self) -> QuerySet[Reservation]:
        if getattr(self, "swagger_fake_view", False):
            return Reservation.objects.none()
        return reservations.reservations_of(self.request.user)

    @extend_schema(
        summary="Reserve a connector",
        request=ReserveSerializer,
        responses={
            201: ReservationSerializer,
            403: OpenApiResponse(description="Money stops this driver from starting"),
            404: OpenApiResponse(description="The driver has no token with that id tag"),
            409: OpenApiResponse(
                description=(
                    "A blocked or expired token, the site is out of service, or the charger refused"
                )
            ),
            **COMMAND_ERRORS,
        },
    )
    def create(self, request: Request) -> Response:
        serializer = ReserveSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        connector = serializer.validated_data["connector"]
        try:
            reservation = reservations.reserve(
                request.user,
                connector,
                serializer.validated_data["minutes"],
                own_token(request.user, serializer.validated_data.get("id_token")),
                source=SOURCE,
            )
        except refusals.Refused as refused:
            return refused_response(refused)
        return Response(ReservationSerializer(reservation).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Cancel a reservation",
        request=None,
        responses={
            200: ReservationSerializer,
            409: OpenApiResponse(description="Not held, or the charger refused"),
            **COMMAND_ERRORS,
        },
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: int) -> Response:
        reservation = self.get_object()
        try:
            reservations.cancel(request.user, reservation, source=SOURCE)
        except refusals.Refused as refused:
            return refused_response(refused)
        return Response(ReservationSerializer(reservation).data)


class MyBookingViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Connectors the driver booked ahead for a time slot (charging/bookings.py)."""

    serializer_class = BookingSerializer

    def get_queryset(self) -> QuerySet[Booking]:
        if getattr(self, "swagger_fake_view", False):
            return Booking.objects.none()
        return bookings.bookings_of(self.request.user)

    @extend_schema(
        summary="Book a connector for a time slot",
        request=BookSerializer,
        responses={
            201: BookingSerializer,
            400: OpenApiResponse(
                description="A slot in the past, too far ahead, off the quarter hour or too long"
            ),
            403: OpenApiResponse(description="Money stops this driver from starting"),
            404: OpenApiResponse(description="The driver has no token with that id tag"),
            409: OpenApiResponse(
                description=(
                    "The connector is booked for part of that time, the driver has a "
                    "booking then, a blocked or expired token, or the site is out of service"
                )
            ),
        },
    )
    def create(self, request: Request) -> Response:
        serializer = BookSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            booking = bookings.book(
                request.user,
                data["connector"],
                data["starts_at"],
                data["minutes"],
                own_token(request.user, data.get("id_token")),
            )
        except refusals.Refused as refused:
            return refused_response(refused)
        return Response(BookingSerializer(booking).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Cancel a booking",
        description=(
            "Free until BOOKING_FREE_CANCEL_MINUTES before the slot; later the tariff's "
            "no-show fee is charged (fee_charged)."
        ),
        request=None,
        responses={
            200: BookingSerializer,
            409: OpenApiResponse(description="The booking is over or already cancelled"),
        },
    )
    def destroy(self, request: Request, pk: int) -> Response:
        booking = self.get_object()
        try:
            booking = bookings.cancel(request.user, booking)
        except refusals.Refused as refused:
            return refused_response(refused)
        return Response(BookingSerializer(booking).data)


def refused_response(refused: refusals.Refused) -> Response:
    """A driver's action refused by the rules (the charging app), in the API's terms: the
    same message and status as the portal's page, a payment method as a field error, and
    what the charger said or the reservation it did not accept."""
    if isinstance(refused, refusals.CommandFailed):
        return command_error_response(refused.error)
    if isinstance(refused, refusals.PaymentMethodRefused):
        return Response({"payment_method": [str(refused)]}, status=refused.status)
    body: dict[str, Any] = {"detail": str(refused)}
    if isinstance(refused, refusals.ChargerSaidNo):
        if refused.answer is not None:
            body["status"] = refused.answer
        if refused.reservation is not None:
            body.update(ReservationSerializer(refused.reservation).data)
    return Response(body, status=refused.status)

"""Staff: charge points and their commands, sessions, tokens, users.

Staff with the model permission of what they ask for, as in admin (StaffModelPermissions);
commands need stations.send_commands.
"""

from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.utils.translation import gettext as _
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from api.permissions import CanSendCommands, StaffModelPermissions
from api.query import ChargePointQuery, SessionQuery, TokenQuery, UserQuery
from api.serializers import (
    ChargePointSerializer,
    CommandResultSerializer,
    CommandSerializer,
    StaffSessionSerializer,
    StaffTokenSerializer,
    UserSerializer,
)
from api.views.errors import command_error_response
from stations.models import ChargePoint, ChargingSession
from stations.ocpp import commands
from users.models import IdToken, User

CHARGE_POINT_PATH = OpenApiParameter(
    "id",
    str,
    OpenApiParameter.PATH,
    description="The charge point's database id (5) or the id it connects with (DEMO-001).",
)


@extend_schema_view(
    list=extend_schema(parameters=[ChargePointQuery]),
    retrieve=extend_schema(parameters=[CHARGE_POINT_PATH]),
    update=extend_schema(parameters=[CHARGE_POINT_PATH]),
    partial_update=extend_schema(parameters=[CHARGE_POINT_PATH]),
)
class ChargePointViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Chargers; staff may move one to a site and approve or reject it."""

    serializer_class = ChargePointSerializer
    permission_classes = [StaffModelPermissions]
    queryset = ChargePoint.objects.all()
    # A charge point id may hold dots and colons (connections.CHARGE_POINT_ID_PATTERN).
    lookup_value_regex = "[^/]+"

    def get_object(self) -> ChargePoint:
        """By database id, or by the charge point id it connects with (DEMO-001).

        Digits are a database id first, as they always were; a charger whose charge point
        id is all digits is reached by its id when no database id is that number.
        """
        value = str(self.kwargs["pk"])
        charge_points = self.filter_queryset(self.get_queryset())
        charge_point = None
        if value.isascii() and value.isdigit() and len(value) <= 18:  # "²" is a digit too
            charge_point = charge_points.filter(pk=int(value)).first()
        charge_point = charge_point or charge_points.filter(charge_point_id=value).first()
        if charge_point is None:
            raise NotFound(_("There is no charge point %(id)s.") % {"id": value})
        self.check_object_permissions(self.request, charge_point)
        return charge_point

    def get_queryset(self) -> QuerySet[ChargePoint]:
        charge_points = ChargePoint.objects.prefetch_related("connectors")
        query = ChargePointQuery.read(self.request)
        if site := query.get("site"):
            charge_points = charge_points.filter(site_id=site)
        if registration := query.get("registration_status"):
            charge_points = charge_points.filter(registration_status=registration)
        if (connected := query.get("connected")) is not None:
            charge_points = charge_points.filter(is_connected=connected)
        return charge_points

    @extend_schema(
        summary="Send an OCPP command",
        parameters=[CHARGE_POINT_PATH],
        request=CommandSerializer,
        responses={
            200: CommandResultSerializer,
            400: OpenApiResponse(description="Not a command, or an invalid payload"),
            502: OpenApiResponse(description="The charger is offline or answered with an error"),
            504: OpenApiResponse(description="The charger did not answer in time"),
        },
    )
    @action(detail=True, methods=["post"], permission_classes=[CanSendCommands])
    def commands(self, request: Request, pk: str) -> Response:
        """Any command a central system sends, payload camelCase as on the wire; it is
        validated against the OCPP schema before it is sent, and recorded."""
        charge_point = self.get_object()
        serializer = CommandSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        action_name = serializer.validated_data["action"]
        try:
            answer = commands.send_payload_sync(
                charge_point.charge_point_id,
                action_name,
                serializer.validated_data["payload"],
                issued_by=request.user,
                source="api",
            )
        except commands.CommandError as error:
            return command_error_response(error)
        return Response({"action": action_name, "answer": answer}, status=status.HTTP_200_OK)


@extend_schema_view(list=extend_schema(parameters=[SessionQuery]))
class SessionViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = StaffSessionSerializer
    permission_classes = [StaffModelPermissions]
    queryset = ChargingSession.objects.all()

    def get_queryset(self) -> QuerySet[ChargingSession]:
        sessions = ChargingSession.objects.select_related("charge_point__site", "connector")
        query = SessionQuery.read(self.request)
        if session_status := query.get("status"):
            sessions = sessions.filter(status=session_status)
        if charge_point := query.get("charge_point"):
            sessions = sessions.filter(charge_point__charge_point_id=charge_point)
        if id_tag := query.get("id_tag"):
            sessions = sessions.filter(id_tag=id_tag.upper())
        return sessions


@extend_schema_view(list=extend_schema(parameters=[TokenQuery]))
class TokenViewSet(viewsets.ModelViewSet):
    serializer_class = StaffTokenSerializer
    permission_classes = [StaffModelPermissions]
    queryset = IdToken.objects.all()

    def get_queryset(self) -> QuerySet[IdToken]:
        tokens = IdToken.objects.all()
        query = TokenQuery.read(self.request)
        if owner := query.get("owner"):
            tokens = tokens.filter(owner_id=owner)
        if token_status := query.get("status"):
            tokens = tokens.filter(status=token_status)
        if uid := query.get("uid"):
            tokens = tokens.filter(uid=uid.upper())
        return tokens


@extend_schema_view(list=extend_schema(parameters=[UserQuery]))
class UserViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """People, without their passwords; staff rights are given in admin, not here."""

    serializer_class = UserSerializer
    permission_classes = [StaffModelPermissions]
    queryset = get_user_model().objects.all()

    def get_queryset(self) -> QuerySet[User]:
        users = get_user_model().objects.order_by("email")
        query = UserQuery.read(self.request)
        if email := query.get("email"):
            users = users.filter(email__icontains=email)
        if (is_staff := query.get("is_staff")) is not None:
            users = users.filter(is_staff=is_staff)
        return users

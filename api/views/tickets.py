"""Staff: tickets (operations/tickets.py): list and filter, read one with its history,
change its state, assignee or severity, comment, start its remote repair
(operations/repair.py). The same permissions as admin
(StaffModelPermissions; comments need operations.add_ticketentry) and the same refusals
(operations.tickets.TicketRefused, a 400 with its message). Filtering on a charge point
or site that does not exist is a 404, as in uptime/."""

from django.db.models import QuerySet
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from api.permissions import CanCommentOnTickets, CanRepairTickets, StaffModelPermissions
from api.query import OPEN, TicketQuery
from api.serializers import (
    TicketChangeSerializer,
    TicketCommentSerializer,
    TicketDetailSerializer,
    TicketEntrySerializer,
    TicketRepairSerializer,
    TicketSerializer,
)
from operations import repair, tasks, tickets
from operations.models import Ticket
from stations.models import ChargePoint, Site

REFUSED = OpenApiResponse(description="A change the workflow does not allow, with the reason")


@extend_schema_view(
    list=extend_schema(
        parameters=[TicketQuery],
        responses={
            200: TicketSerializer(many=True),
            404: OpenApiResponse(description="No such charge point or site"),
        },
    ),
    partial_update=extend_schema(
        request=TicketChangeSerializer,
        responses={200: TicketDetailSerializer, 400: REFUSED},
    ),
)
class TicketViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Tickets opened by faults (and by hand elsewhere), newest first."""

    permission_classes = [StaffModelPermissions]
    queryset = Ticket.objects.all()
    http_method_names = ["get", "patch", "post", "head", "options"]

    def get_serializer_class(self) -> type[BaseSerializer]:
        return TicketSerializer if self.action == "list" else TicketDetailSerializer

    def get_queryset(self) -> QuerySet[Ticket]:
        found = Ticket.objects.select_related("charge_point", "connector")
        if self.action != "list":
            return found.prefetch_related("entries__author")
        query = TicketQuery.read(self.request)
        if charge_point := query.get("charge_point"):
            # An unknown one is a 404, as in uptime/: an empty list would read "no tickets".
            if not ChargePoint.objects.filter(charge_point_id=charge_point).exists():
                raise NotFound(_("No such charge point."))
            found = found.filter(charge_point__charge_point_id=charge_point)
        if site := query.get("site"):
            if not Site.objects.filter(pk=site).exists():
                raise NotFound(_("No such site."))
            found = found.filter(site_id=site)
        if (wanted := query.get("status")) == OPEN:
            found = found.filter(status__in=Ticket.OPEN_STATUSES)
        elif wanted:
            found = found.filter(status=wanted)
        return found

    def update(self, request: Request, *args: object, **kwargs: object) -> Response:
        """Status, severity and assignee (a technician), checked by operations.tickets:
        a move the workflow lacks is a 400 saying why (reopening is the admin's action)."""
        ticket = self.get_object()
        change = TicketChangeSerializer(data=request.data, partial=True)
        change.is_valid(raise_exception=True)
        try:
            ticket = tickets.update(ticket, by=request.user, **change.validated_data)
        except tickets.TicketRefused as refused:
            return Response({"detail": refused.message}, status=status.HTTP_400_BAD_REQUEST)
        ticket = self.get_queryset().get(pk=ticket.pk)
        return Response(TicketDetailSerializer(ticket).data)

    @extend_schema(
        summary="Comment on a ticket",
        request=TicketCommentSerializer,
        responses={201: TicketEntrySerializer, 400: OpenApiResponse(description="No text")},
    )
    @action(detail=True, methods=["post"], permission_classes=[CanCommentOnTickets])
    def comments(self, request: Request, pk: int) -> Response:
        ticket = self.get_object()
        body = TicketCommentSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            entry = tickets.comment(ticket, body.validated_data["text"], by=request.user)
        except tickets.TicketRefused as refused:
            return Response({"detail": refused.message}, status=status.HTTP_400_BAD_REQUEST)
        return Response(TicketEntrySerializer(entry).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Start the remote repair",
        request=None,
        responses={
            202: TicketRepairSerializer,
            409: OpenApiResponse(description="Not now: no charger, resolved, or running"),
        },
    )
    @action(detail=True, methods=["post"], permission_classes=[CanRepairTickets])
    def repair(self, request: Request, pk: int) -> Response:
        """The standard first-line sequence on the ticket's charger (TriggerMessage
        StatusNotification, soft Reset, hard Reset, UnlockConnector for a connector's
        ticket), stopping once the fault is over; each step and answer becomes an entry of
        the ticket. Needs stations.send_commands, as in admin."""
        ticket = self.get_object()
        try:
            tasks.repair_soon(ticket, request.user)
        except repair.RepairRefused as refused:
            return Response({"detail": refused.message}, status=status.HTTP_409_CONFLICT)
        steps = [str(step.label) for step in repair.steps_for(ticket)]
        body = {"detail": str(repair.STARTED), "steps": steps}
        return Response(TicketRepairSerializer(body).data, status=status.HTTP_202_ACCEPTED)

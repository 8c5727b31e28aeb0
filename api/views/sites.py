"""Staff: sites, and their emergency stop and release (operations/emergency.py).

Reading and editing a site needs the model permissions of stations.Site, as in admin;
stopping and releasing one needs operations.stop_site, as the admin's actions do.
"""

from django.core.exceptions import ValidationError
from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from api.permissions import CanStopSites, StaffModelPermissions
from api.query import SiteQuery
from api.serializers import (
    AllocationSerializer,
    DynamicLimitSerializer,
    EmergencyStopConflictSerializer,
    EmergencyStopRequestSerializer,
    EmergencyStopSerializer,
    SiteSerializer,
)
from operations import emergency
from operations.models import EmergencyStop
from stations import site_limits, tasks
from stations.models import ConnectorAllocation, Site

# Editing these asks smart charging for a new allocation of the site.
LIMIT_FIELDS = ("grid_limit_amps", "phases", "min_amps")

CONFLICT = OpenApiResponse(
    EmergencyStopConflictSerializer, description="The site's current state says no"
)


@extend_schema_view(
    list=extend_schema(parameters=[SiteQuery]),
    # PUT is dynamic-limit/'s only: a site is edited field by field (PATCH).
    update=extend_schema(exclude=True),
)
class SiteViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Sites; staff may edit one (its opening hours in admin) and stop it in an emergency.

    Smart charging: `grid_limit_amps` (per phase; empty: not managed), `phases` and
    `min_amps`; a limit below what the connectors need at their minimum is accepted and
    explained in `limit_warning` (some sessions will wait).
    """

    serializer_class = SiteSerializer
    permission_classes = [StaffModelPermissions]
    queryset = Site.objects.all()
    # PATCH only: a PUT would have to send every field to change one.
    http_method_names = ["get", "patch", "post", "put", "head", "options"]

    def update(self, request: Request, *args: object, **kwargs: object) -> Response:
        if not kwargs.get("partial"):
            # PUT belongs to dynamic-limit/ only.
            self.http_method_not_allowed(request)
        return super().update(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[Site]:
        in_force = EmergencyStop.objects.filter(released_at__isnull=True)
        sites = Site.objects.prefetch_related(
            "charge_points",
            Prefetch("emergency_stops", queryset=in_force),
            # limit_now_amps reads them for every site of a page.
            "limit_periods",
        )
        if self.action != "list":
            return sites
        query = SiteQuery.read(self.request)
        if (stopped := query.get("stopped")) is not None:
            sites = (
                sites.filter(emergency_stops__in=in_force)
                if stopped
                else sites.exclude(emergency_stops__in=in_force)
            )
        return sites

    def perform_update(self, serializer: SiteSerializer) -> None:
        before = [getattr(serializer.instance, name) for name in LIMIT_FIELDS]
        site = serializer.save()
        if [getattr(site, name) for name in LIMIT_FIELDS] != before:
            tasks.allocate_soon(site.pk)

    @extend_schema(
        summary="Set or clear the dynamic limit",
        request=DynamicLimitSerializer,
        responses={200: SiteSerializer, 400: OpenApiResponse(description="A bad limit")},
    )
    @action(detail=True, methods=["put"], url_path="dynamic-limit")
    def dynamic_limit(self, request: Request, pk: int) -> Response:
        """A limit per phase from outside (an energy management system, the grid
        operator), until `until`; it only lowers the site's own limit. The chargers are
        told at once (lower first). `{"amps": null}` clears it."""
        site = self.get_object()
        body = DynamicLimitSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            site_limits.set_dynamic_limit(
                site, body.validated_data["amps"], body.validated_data.get("until")
            )
        except ValidationError as error:
            return Response({"detail": error.messages[0]}, status=status.HTTP_400_BAD_REQUEST)
        tasks.allocate_soon(site.pk)
        return Response(SiteSerializer(self.get_object()).data)

    @extend_schema(summary="Smart charging allocation", responses=AllocationSerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=None)
    def allocation(self, request: Request, pk: int) -> Response:
        """Each connector's share of the site's limit now: what it should get, what its
        charger accepted, what its car draws, its priority."""
        site = self.get_object()
        rows = (
            ConnectorAllocation.objects.filter(connector__charge_point__site=site)
            .select_related("connector__charge_point")
            .order_by("connector__charge_point__charge_point_id", "connector__connector_id")
        )
        return Response(AllocationSerializer(rows, many=True).data)

    @extend_schema(
        summary="Emergency stop",
        request=EmergencyStopRequestSerializer,
        responses={
            201: EmergencyStopSerializer,
            400: OpenApiResponse(description="No reason given"),
            409: CONFLICT,
        },
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="emergency-stop",
        permission_classes=[CanStopSites],
    )
    def emergency_stop(self, request: Request, pk: int) -> Response:
        """Stop every running session on the site (RemoteStopTransaction) and make every
        connector Inoperative (ChangeAvailability), all chargers at once; the answer holds
        each charger's answers. A charger that was offline or did not answer gets the stop
        when it boots again. Nobody may start on the site until it is released."""
        site = self.get_object()
        body = EmergencyStopRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            stop = emergency.stop_site(site, body.validated_data["reason"], request.user)
        except emergency.EmergencyStopRefused as refused:
            return _conflict(refused)
        return Response(EmergencyStopSerializer(stop).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Release an emergency stop",
        request=None,
        responses={200: EmergencyStopSerializer, 409: CONFLICT},
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="emergency-release",
        permission_classes=[CanStopSites],
    )
    def emergency_release(self, request: Request, pk: int) -> Response:
        """Every connector Operative again (ChangeAvailability); drivers may start again."""
        site = self.get_object()
        try:
            stop = emergency.release_site(site, request.user)
        except emergency.EmergencyStopRefused as refused:
            return _conflict(refused)
        return Response(EmergencyStopSerializer(stop).data)


def _conflict(refused: emergency.EmergencyStopRefused) -> Response:
    """409 with the site's current state (the stop in force, or null)."""
    current = EmergencyStopSerializer(refused.stop).data if refused.stop else None
    return Response(
        {"detail": str(refused), "emergency_stop": current}, status=status.HTTP_409_CONFLICT
    )

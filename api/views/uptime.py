"""Staff: uptime of a charger's or a site's ports in a month (operations/uptime.py).

Computed from the status and online history on each call, so it is exact up to now;
staff with the view permission of uptime, as the admin's uptime pages.
"""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.permissions import StaffModelPermissions
from api.query import UptimeQuery
from api.serializers import UptimeSerializer
from operations import uptime
from operations.models import UptimeMonth
from stations.models import ChargePoint, Site


class UptimeView(APIView):
    permission_classes = [StaffModelPermissions]
    # For StaffModelPermissions: operations.view_uptimemonth, as the admin's pages.
    queryset = UptimeMonth.objects.none()

    @extend_schema(
        summary="Uptime per connector in a month",
        parameters=[UptimeQuery],
        responses={
            200: UptimeSerializer,
            400: OpenApiResponse(
                description="Not a month, or not exactly one of charge_point and site"
            ),
            404: OpenApiResponse(description="No such charge point or site"),
        },
    )
    def get(self, request: Request) -> Response:
        """Each port's `uptime_percent`, `outage_minutes` and `excluded_minutes` as
        23 CFR 680.116(b) defines them (README, Operations: Uptime), and the total."""
        query = UptimeQuery.read(request)
        if "charge_point" in query:
            charge_point = get_object_or_404(
                ChargePoint.objects.select_related("site"), charge_point_id=query["charge_point"]
            )
            charge_points = [charge_point]
            site = None
            zone = uptime.zone_of(charge_point)
        else:
            site = get_object_or_404(Site, pk=query["site"])
            charge_point = None
            charge_points = site.charge_points.select_related("site")
            zone = uptime.zone_named(site.time_zone)
        month = query.get("month") or uptime.current_month(zone)
        ports = uptime.month_uptime(charge_points, month)
        totals = uptime.Totals(ports)
        return Response(
            UptimeSerializer(
                {
                    "month": f"{month:%Y-%m}",
                    "charge_point": charge_point.charge_point_id if charge_point else None,
                    "site": site.pk if site else None,
                    "time_zone": zone.key,
                    "uptime_percent": totals.uptime_percent,
                    "outage_minutes": totals.outage_minutes,
                    "excluded_minutes": totals.excluded_minutes,
                    "connectors": ports,
                }
            ).data
        )

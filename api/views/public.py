"""Public: stations (sites with their chargers and connectors) and prices, no login needed."""

from collections.abc import Sequence
from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, viewsets
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from api.query import StationQuery
from api.serializers import PricePreviewSerializer, StationSerializer
from billing.price_filter import station_filter
from billing.tariffs import PriceNow, current_prices, price_preview
from operations import emergency, maintenance
from stations import bookings, finder
from stations.models import Connector, Site
from users.models import User


def public_connectors() -> QuerySet[Connector]:
    return Connector.objects.filter(finder.PUBLIC_CONNECTOR).select_related("charge_point__site")


def prices_shown(
    results: Sequence[finder.SiteResult], user: User | None
) -> dict[int, PriceNow | None]:
    """The price in force now at every connector shown, in a fixed number of queries."""
    return current_prices(
        [state.connector for result in results for state in result.connectors], user
    )


@extend_schema_view(
    list=extend_schema(
        summary="Stations with their chargers and connectors", parameters=[StationQuery]
    ),
    retrieve=extend_schema(summary="A station"),
)
class StationViewSet(viewsets.GenericViewSet):
    """Sites with public chargers (stations.finder decides what is public and what matches);
    a site matches a filter when one of its connectors meets all of it."""

    serializer_class = StationSerializer
    permission_classes = [AllowAny]
    # For the schema's path parameter only: the finder reads the stations.
    queryset = Site.objects.none()

    def list(self, request: Request) -> Response:
        user = request.user if request.user.is_authenticated else None
        query = StationQuery.read(request)
        wanted = station_filter(
            user,
            connector_type=query.get("connector_type", ""),
            min_power_kw=query.get("min_power"),
            available_now=bool(query.get("available")),
            near=query.get("near"),
            place=query.get("q", ""),
            max_price=query.get("max_price_per_kwh"),
        )
        sites = finder.find_sites(wanted)
        page = self.paginate_queryset(sites) or []
        if request.query_params and self.paginator.page.number == 1:  # counted once
            finder.announce_search(wanted, page)
        serializer = self.get_serializer(page, many=True, context=self._context(page, user))
        return self.get_paginated_response(serializer.data)

    def retrieve(self, request: Request, pk: str) -> Response:
        try:
            site_id = int(pk)
        except ValueError:  # "²" (a digit to str.isdigit()), 5,000 digits (int's limit)
            raise NotFound from None
        found = finder.group_by_site(finder.public_connectors(site_id=site_id))
        if not found:
            raise NotFound
        user = request.user if request.user.is_authenticated else None
        return Response(self.get_serializer(found[0], context=self._context(found, user)).data)

    def _context(self, results: Sequence[finder.SiteResult], user: User | None) -> dict[str, Any]:
        """The serializer's context with when each charger's maintenance ends and which
        sites are stopped in an emergency (one query each), the price in force now at
        each connector (billing.tariffs.current_prices) and its booked slots (one query)."""
        chargers = {state.connector.charge_point for r in results for state in r.connectors}
        connector_ids = [state.connector.pk for r in results for state in r.connectors]
        return {
            **self.get_serializer_context(),
            "booked": bookings.upcoming_slots(connector_ids, timezone.now()),
            "maintenance": maintenance.ends_by_charge_point(chargers),
            "prices": prices_shown(results, user),
            "out_of_service": emergency.stopped_site_ids([r.site.pk for r in results]),
        }


class ConnectorPriceView(generics.GenericAPIView):
    """What a session started now at this connector would be charged, VAT shown.

    A logged-in driver sees the prices of their own customer groups (fleet, plan).
    """

    permission_classes = [AllowAny]
    serializer_class = PricePreviewSerializer
    queryset = public_connectors()

    @extend_schema(summary="Prices at a connector", responses=PricePreviewSerializer)
    def get(self, request: Request, pk: int) -> Response:
        connector = get_object_or_404(self.get_queryset(), pk=pk)
        user = request.user if request.user.is_authenticated else None
        preview = price_preview(connector, user)
        if preview is None:
            raise NotFound(_("No price is set for this connector."))
        return Response(self.get_serializer(preview).data)

"""Public: stations (sites with their chargers and connectors) and prices, no login needed."""

from decimal import Decimal, InvalidOperation

from django.db.models import QuerySet
from django.http import QueryDict
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import generics, viewsets
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from api.serializers import PricePreviewSerializer, StationSerializer
from billing.price_filter import connectors_priced_at_most
from billing.tariffs import price_preview
from stations import finder
from stations.models import Connector, Site
from users.models import User


def public_connectors() -> QuerySet[Connector]:
    return Connector.objects.filter(finder.PUBLIC_CONNECTOR).select_related("charge_point__site")


def truthy(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def station_filter(params: QueryDict, user: User | None = None) -> finder.StationFilter:
    """The query string as stations.finder takes it; a value that is not one is a 400.
    Prices are the ones `user` would pay (their customer groups' where they have one)."""
    connector_type = params.get("connector_type", "")
    if connector_type and connector_type not in Connector.Type.values:
        raise ValidationError({"connector_type": _("Not a connector type.")})
    min_power = None
    if params.get("min_power"):
        try:
            min_power = Decimal(params["min_power"])
        except InvalidOperation:
            raise ValidationError({"min_power": _("Give a number of kW.")}) from None
        if not min_power.is_finite():
            raise ValidationError({"min_power": _("Give a number of kW.")})
    connector_q = None
    if params.get("max_price_per_kwh"):
        try:
            max_price = Decimal(params["max_price_per_kwh"])
        except InvalidOperation:
            raise ValidationError({"max_price_per_kwh": _("Give a price per kWh.")}) from None
        if not max_price.is_finite() or max_price < 0:
            raise ValidationError({"max_price_per_kwh": _("Give a price per kWh.")})
        connector_q = connectors_priced_at_most(max_price, user)
    near = None
    if params.get("near"):
        near = finder.parse_position(params["near"])
        if near is None:
            raise ValidationError({"near": _("Give a point as latitude,longitude.")})
    return finder.StationFilter(
        connector_type=connector_type,
        min_power_kw=min_power,
        available_now=truthy(params.get("available", "")),
        near=near,
        connector_q=connector_q,
    )


@extend_schema_view(
    list=extend_schema(
        summary="Stations with their chargers and connectors",
        parameters=[
            OpenApiParameter(
                "available", OpenApiTypes.BOOL, description="Only with a connector free now."
            ),
            OpenApiParameter(
                "connector_type",
                OpenApiTypes.STR,
                enum=Connector.Type.values,
                description="Only with a connector of this type.",
            ),
            OpenApiParameter(
                "min_power",
                OpenApiTypes.DECIMAL,
                description="Only with a connector of at least this many kW.",
            ),
            OpenApiParameter(
                "near", OpenApiTypes.STR, description="latitude,longitude: nearest first."
            ),
            OpenApiParameter(
                "max_price_per_kwh",
                OpenApiTypes.DECIMAL,
                description=(
                    "Only with a connector whose energy price now, incl. VAT, is at most this "
                    "(the caller's own price when logged in); connectors without a price are "
                    "left out."
                ),
            ),
        ],
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
        sites = finder.find_sites(station_filter(request.query_params, user))
        page = self.paginate_queryset(sites)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request: Request, pk: str) -> Response:
        if not pk.isdigit():
            raise NotFound
        found = finder.group_by_site(finder.public_connectors(site_id=int(pk)))
        if not found:
            raise NotFound
        return Response(self.get_serializer(found[0]).data)


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

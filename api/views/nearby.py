"""*Find me a charger* for apps: the driver's nearby watch (notifications/nearby.py), the
same rules and checks as the portal's card (notifications/forms.py)."""

from django import forms
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from notifications import nearby
from notifications.forms import NearbyWatchForm, PositionForm
from notifications.models import NearbyWatch


class NearbyWatchSerializer(serializers.ModelSerializer):
    class Meta:
        model = NearbyWatch
        fields = [
            "latitude",
            "longitude",
            "radius_km",
            "connector_type",
            "min_power_kw",
            "started_at",
            "position_at",
            "expires_at",
        ]
        read_only_fields = fields


START = inline_serializer(
    "NearbyWatchStart",
    {
        "latitude": serializers.FloatField(),
        "longitude": serializers.FloatField(),
        "radius_km": serializers.DecimalField(max_digits=5, decimal_places=1),
        "connector_type": serializers.CharField(required=False),
        "min_power_kw": serializers.DecimalField(max_digits=7, decimal_places=1, required=False),
    },
)
POSITION = inline_serializer(
    "NearbyWatchPosition",
    {"latitude": serializers.FloatField(), "longitude": serializers.FloatField()},
)


def _form_data(data: object) -> dict[str, object]:
    """The JSON body as the form reads it (numbers as text, None as blank)."""
    if not isinstance(data, dict):
        return {}
    return {name: "" if value is None else str(value) for name, value in data.items()}


def _refused(form: forms.Form) -> Response:
    return Response({name: list(errors) for name, errors in form.errors.items()}, status=400)


class MyNearbyWatchView(APIView):
    """The driver's watch for a free charger near them: start it (PUT), send the position
    as they move (PATCH, written at most every 30 s), read it, stop it (DELETE). Positions
    are kept only while the watch runs."""

    @extend_schema(
        summary="Your watch for a free charger near you",
        responses={200: NearbyWatchSerializer, 404: OpenApiResponse(description="None runs")},
    )
    def get(self, request: Request) -> Response:
        watch = nearby.running(request.user)
        if watch is None:
            return Response({"detail": _("No watch runs.")}, status=404)
        return Response(NearbyWatchSerializer(watch).data)

    @extend_schema(
        summary="Start looking for a free charger near you (again)",
        request=START,
        responses={200: NearbyWatchSerializer, 400: OpenApiResponse(description="Bad input")},
    )
    def put(self, request: Request) -> Response:
        form = NearbyWatchForm(_form_data(request.data))
        if not form.is_valid():
            return _refused(form)
        data = form.cleaned_data
        watch = nearby.start(
            request.user,
            data["latitude"],
            data["longitude"],
            data["radius_km"],
            data["connector_type"],
            data["min_power_kw"],
        )
        return Response(NearbyWatchSerializer(watch).data)

    @extend_schema(
        summary="Where you are now",
        request=POSITION,
        responses={
            200: NearbyWatchSerializer,
            400: OpenApiResponse(description="Not a position"),
            404: OpenApiResponse(description="No watch runs"),
        },
    )
    def patch(self, request: Request) -> Response:
        form = PositionForm(_form_data(request.data))
        if not form.is_valid():
            return _refused(form)
        if not nearby.move(
            request.user, form.cleaned_data["latitude"], form.cleaned_data["longitude"]
        ):
            return Response({"detail": _("No watch runs.")}, status=404)
        return Response(NearbyWatchSerializer(nearby.running(request.user)).data)

    @extend_schema(summary="Stop looking; your position is deleted", responses={204: None})
    def delete(self, request: Request) -> Response:
        nearby.stop(request.user)
        return Response(status=204)

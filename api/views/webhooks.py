"""Staff: webhook endpoints for integrators (notifications/webhooks.py): list, make one
(the answer has its signing secret, once), read, delete, send a test event. The model
permissions of admin (StaffModelPermissions)."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from api.permissions import StaffModelPermissions
from api.serializers import NewWebhookEndpointSerializer, WebhookEndpointSerializer
from notifications import webhooks
from notifications.models import WebhookEndpoint


class WebhookEndpointViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Endpoints that receive signed events (README: Notifications, webhooks)."""

    permission_classes = [StaffModelPermissions]
    queryset = WebhookEndpoint.objects.order_by("pk")

    def get_serializer_class(self) -> type[BaseSerializer]:
        if self.action == "create":
            return NewWebhookEndpointSerializer
        return WebhookEndpointSerializer

    @extend_schema(
        summary="Make an endpoint; the answer has its signing secret, once",
        responses={201: NewWebhookEndpointSerializer},
    )
    def create(self, request: Request) -> Response:
        serializer = WebhookEndpointSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = webhooks.create_endpoint(
            request.user, serializer.validated_data["url"], serializer.validated_data.get("events")
        )
        return Response(NewWebhookEndpointSerializer(endpoint).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Send a test event", request=None, responses={202: None})
    @action(detail=True, methods=["post"], url_path="test")
    def send_test(self, request: Request, pk: str | None = None) -> Response:
        webhooks.send_test(self.get_object())
        return Response(status=status.HTTP_202_ACCEPTED)

"""The driver's support cases under /api/v1/me/support-cases/ (operations/support.py).

As for the rest of /me/, another driver's case or session is not found (404).
"""

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from api.serializers import ReportSerializer, SupportCaseSerializer, SupportMessageCreateSerializer
from api.views.driver import refused_response
from charging.refusals import Refused
from operations import support
from operations.models import SupportCase


class MySupportCaseViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Problems you reported and support's answers, newest first."""

    serializer_class = SupportCaseSerializer

    def get_queryset(self) -> QuerySet[SupportCase]:
        if getattr(self, "swagger_fake_view", False):
            return SupportCase.objects.none()
        return support.cases_of(self.request.user)

    @extend_schema(
        summary="Report a problem",
        request=ReportSerializer,
        responses={
            201: SupportCaseSerializer,
            400: OpenApiResponse(description="A field missing or wrong"),
            404: OpenApiResponse(description="No such session of yours"),
        },
    )
    def create(self, request: Request) -> Response:
        """A charger, a session or a payment gone wrong: support answers here and by email."""
        serializer = ReportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            session_id = data.get("session")
            session = None if session_id is None else support.own_session(request.user, session_id)
            case = support.report(
                request.user,
                category=data["category"],
                message=data["message"],
                connector=data.get("connector"),
                session=session,
            )
        except Refused as refused:
            return refused_response(refused)
        case = self.get_queryset().get(pk=case.pk)
        return Response(SupportCaseSerializer(case).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Write to support in a case",
        request=SupportMessageCreateSerializer,
        responses={201: SupportCaseSerializer, 400: OpenApiResponse(description="No message")},
    )
    @action(detail=True, methods=["post"], serializer_class=SupportMessageCreateSerializer)
    def messages(self, request: Request, pk: int) -> Response:
        case = self.get_object()
        serializer = SupportMessageCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            support.add_driver_message(case, serializer.validated_data["body"])
        except Refused as refused:
            return refused_response(refused)
        case = self.get_queryset().get(pk=case.pk)
        return Response(SupportCaseSerializer(case).data, status=status.HTTP_201_CREATED)

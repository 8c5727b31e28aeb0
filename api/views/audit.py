"""Staff: the audit records (audit/), read-only, for those with audit.view_auditrecord
(the operator admin role), as in admin; the same filters for the list and its CSV."""

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.request import Request

from api.permissions import StaffModelPermissions
from api.query import AuditQuery
from api.serializers import AuditRecordSerializer
from audit import export
from audit.models import AuditRecord


@extend_schema_view(list=extend_schema(parameters=[AuditQuery]))
class AuditRecordViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = AuditRecordSerializer
    permission_classes = [StaffModelPermissions]
    queryset = AuditRecord.objects.all()

    def get_queryset(self) -> QuerySet[AuditRecord]:
        records = AuditRecord.objects.all()
        if self.action not in ("list", "export"):
            return records
        query = AuditQuery.read(self.request)
        if object_type := query.get("object_type"):
            records = records.filter(object_type=object_type.lower())
        if object_id := query.get("object_id"):
            records = records.filter(object_id=object_id)
        if actor := query.get("actor"):
            records = records.filter(actor_email__iexact=actor)
        if since := query.get("since"):
            records = records.filter(at__gte=since)
        if until := query.get("until"):
            records = records.filter(at__lt=until)
        return records

    @extend_schema(
        summary="The audit records as CSV",
        parameters=[AuditQuery],
        responses={
            (200, "text/csv"): OpenApiResponse(
                response=OpenApiTypes.STR,
                description="One row per record; before and after as JSON",
            )
        },
    )
    @action(detail=False, methods=["get"])
    def export(self, request: Request) -> StreamingHttpResponse:
        return export.csv_response(self.get_queryset())

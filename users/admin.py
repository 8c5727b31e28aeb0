from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from users.models import ApiToken, IdToken, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "first_name", "last_name", "is_staff", "is_active"]
    search_fields = ["email", "first_name", "last_name"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Personal info"), {"fields": ("first_name", "last_name", "language")}),
        (_("Permissions"), {"fields": ("is_active", "is_staff", "is_superuser", "groups")}),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)


@admin.register(IdToken)
class IdTokenAdmin(admin.ModelAdmin):
    list_display = ["uid", "name", "type", "status", "owner", "group_id", "expires_at"]
    list_filter = ["type", "status"]
    search_fields = ["uid", "name", "owner__email", "group_id"]
    autocomplete_fields = ["owner"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens without their secret (only its hash is stored); deleting one revokes it.

    Made by their owner in the portal or with `manage.py create_api_token`, which show the
    key once (users/api_tokens.py).
    """

    list_display = ["prefix", "user", "created_at", "expires_at", "last_used_at"]
    search_fields = ["prefix", "user__email"]
    fields = ["user", "prefix", "created_at", "expires_at", "last_used_at"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ApiToken | None = None) -> bool:
        return False

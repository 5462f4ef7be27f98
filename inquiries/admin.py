"""Django admin for staff auditing.

What the system recorded (runs, steps, events, idempotency claims, e-mails, lead scores, the
audit log) is read-only here: staff can look, filter, search and export, never rewrite history.
Deleting a run or an inquiry (with the delete permission) goes through the same service as the
API: Redis cleanup, an audit entry, the inquiry removed when orphaned. The knowledge base, product
names, API clients, webhook subscriptions (admin_webhooks.py) and contact details are editable.
"""

import csv
import uuid

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from core.client_ip import client_ip
from core.csv_safe import csv_safe

from . import services
from .admin_privacy import ContactPrivacyMixin, erase_contacts, export_contacts_json
from .admin_webhooks import WebhookDeliveryInline
from .models import (
    ApiClient,
    ApiScope,
    AuditEntry,
    Contact,
    IdempotencyRecord,
    Inquiry,
    KnowledgeArticle,
    LeadScoreEntry,
    OutboundEmail,
    ProductName,
    Run,
    RunEvent,
    RunStep,
)
from .models.intake import default_scopes

admin.site.site_header = "AutoFlow administration"
admin.site.site_title = "AutoFlow admin"
admin.site.index_title = "Audit and configuration"


class ReadOnlyAdminMixin:
    """Viewable with the view permission; nobody adds or changes what the system recorded."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class DeleteThroughServiceMixin:
    """Deleting here (one object, or the "delete selected" action) calls `delete_through` for
    each object with the signed-in user, instead of the ORM's bare delete."""

    def delete_through(self, request, pk) -> None:
        raise NotImplementedError

    def delete_model(self, request, obj) -> None:
        self.delete_through(request, obj.pk)

    def delete_queryset(self, request, queryset) -> None:
        for pk in list(queryset.values_list("pk", flat=True)):
            self.delete_through(request, pk)

    def get_deleted_objects(self, objs, request):
        # What goes with the object (a run's steps and events) is the service's decision, not a
        # matter of each related model's admin: single events stay undeletable there, while the
        # delete permission on runs (or inquiries) covers the whole, audited deletion.
        deleted, counts, _perms_needed, protected = super().get_deleted_objects(objs, request)
        return deleted, counts, set(), protected


def _who(request) -> dict:
    return {"actor": request.user, "ip": client_ip(request)}


class ReadOnlyInline(ReadOnlyAdminMixin, admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_readonly_fields(self, request, obj=None):
        return self.fields


class RunStepInline(ReadOnlyInline):
    model = RunStep
    fields = ["sequence", "node", "agent", "action", "output", "llm_backend", "model",
              "prompt_tokens", "completion_tokens", "duration_ms", "attempt", "error", "finished_at"]
    ordering = ["sequence"]


class RunEventInline(ReadOnlyInline):
    model = RunEvent
    fields = ["created_at", "type", "message", "actor_label", "data", "request_id"]
    ordering = ["created_at", "id"]


class OutboundEmailInline(ReadOnlyInline):
    model = OutboundEmail
    fields = ["kind", "to", "subject", "status", "approved_by", "sent_at", "error"]


# Columns of the CSV export: the public RunStatus fields, then what an auditor needs besides.
CSV_COLUMNS = [
    "run_id", "status", "intent", "intent_confidence", "current_agent", "lead_score", "lead_tier",
    "escalate", "escalation_reason", "final_response", "error", "sender_name", "sender_email",
    "subject", "model_version", "workflow_version", "llm_backend", "confidence_band", "language",
    "language_confidence", "sentiment", "entities", "citations", "llm_model", "attempts",
    "created_at", "updated_at", "finished_at",
]
_INQUIRY_COLUMNS = {"sender_name", "sender_email", "subject"}


@admin.action(description="Export selected runs as CSV", permissions=["view"])
def export_runs_csv(modeladmin, request: HttpRequest, queryset) -> HttpResponse:
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="autoflow-runs-{stamp}.csv"'
    writer = csv.writer(response)
    writer.writerow(CSV_COLUMNS)
    for run in queryset.select_related("inquiry").order_by("-created_at"):
        row = []
        for column in CSV_COLUMNS:
            if column == "run_id":
                row.append(str(run.id))
            elif column in _INQUIRY_COLUMNS:
                row.append(csv_safe(getattr(run.inquiry, column)))
            else:
                row.append(csv_safe(getattr(run, column)))
        writer.writerow(row)
    return response


@admin.register(Run)
class RunAdmin(DeleteThroughServiceMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["short_id", "created_at", "status", "intent", "confidence_band", "language", "sentiment", "subject",
                    "sender_email", "escalate", "llm_backend"]
    list_filter = ["status", "intent", "confidence_band", "language", "sentiment", "escalate", "llm_backend",
                   ("created_at", admin.DateFieldListFilter)]
    list_select_related = ["inquiry"]
    search_fields = ["inquiry__sender_email", "inquiry__subject"]
    search_help_text = "A run id, or part of a sender's e-mail address or subject."
    date_hierarchy = "created_at"
    ordering = ["-created_at"]
    actions = [export_runs_csv]
    inlines = [RunStepInline, RunEventInline, OutboundEmailInline, WebhookDeliveryInline]
    fieldsets = [
        ("Run", {"fields": ["id", "status", "current_agent", "created_at", "updated_at", "started_at",
                            "finished_at", "attempts", "replay_of"]}),
        ("Inquiry", {"fields": ["sender_name", "sender_email", "subject", "body", "metadata", "source"]}),
        ("Understanding", {"fields": ["language", "language_confidence", "sentiment", "entities", "citations"]}),
        ("Outcome", {"fields": ["intent", "intent_confidence", "confidence_band", "severity", "lead_score", "lead_tier",
                                "escalate", "escalation_reason", "handoff_summary", "draft_response",
                                "final_response", "error_code", "error"]}),
        ("Produced by", {"fields": ["llm_backend", "llm_model", "llm_model_digest", "llm_server_version",
                                    "model_version", "workflow_version"]}),
        ("Triage", {"fields": ["assigned_to", "resolved_at", "resolved_by", "resolution_note"]}),
    ]

    @admin.display(description="run id", ordering="id")
    def short_id(self, run: Run) -> str:
        return str(run.id)[:8]

    @admin.display(description="sender e-mail", ordering="inquiry__sender_email")
    def sender_email(self, run: Run) -> str:
        return run.inquiry.sender_email

    @admin.display(ordering="inquiry__subject")
    def subject(self, run: Run) -> str:
        return run.inquiry.subject

    @admin.display(description="sender name")
    def sender_name(self, run: Run) -> str:
        return run.inquiry.sender_name

    @admin.display()
    def body(self, run: Run) -> str:
        return run.inquiry.body

    @admin.display()
    def metadata(self, run: Run):
        return run.inquiry.metadata

    @admin.display()
    def source(self, run: Run) -> str:
        return run.inquiry.get_source_display()

    def get_readonly_fields(self, request, obj=None):
        return [field for fieldset in self.fieldsets for field in fieldset[1]["fields"]]

    def get_search_results(self, request, queryset, search_term):
        try:
            run_id = uuid.UUID(search_term.strip())
        except ValueError:
            return super().get_search_results(request, queryset, search_term)
        return queryset.filter(pk=run_id), False

    def delete_through(self, request, pk) -> None:
        services.run_delete(run_id=pk, **_who(request))


@admin.register(Inquiry)
class InquiryAdmin(DeleteThroughServiceMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "created_at", "sender_email", "subject", "source", "api_client"]
    list_filter = ["source", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["sender_email", "subject"]
    readonly_fields = ["sender_name", "sender_email", "subject", "body", "metadata", "raw_payload",
                       "source", "api_client", "contact", "client_ip", "request_id", "created_at"]
    fields = readonly_fields

    def delete_through(self, request, pk) -> None:
        services.inquiry_delete(inquiry_id=pk, **_who(request))


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "action", "target", "actor_label", "ip"]
    list_filter = ["action", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["target", "actor_label", "ip"]
    readonly_fields = ["created_at", "action", "target", "actor", "actor_label", "ip", "detail", "request_id"]
    fields = readonly_fields

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(RunEvent)
class RunEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "run", "type", "actor_label", "message"]
    list_filter = ["type", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["actor_label", "message"]
    list_select_related = ["run"]
    readonly_fields = ["run", "type", "message", "data", "actor", "actor_label", "request_id", "created_at"]
    fields = readonly_fields

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "caller", "key", "run", "expires_at"]
    search_fields = ["caller", "key"]
    readonly_fields = ["caller", "key", "fingerprint", "run", "created_at", "expires_at"]
    fields = readonly_fields


@admin.register(OutboundEmail)
class OutboundEmailAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "run", "kind", "to", "status", "sent_at"]
    list_filter = ["status", "kind"]
    search_fields = ["to", "subject"]
    readonly_fields = ["run", "kind", "to", "subject", "body", "status", "error", "approved_by",
                       "created_at", "sent_at"]
    fields = readonly_fields


class LeadScoreInline(ReadOnlyInline):
    model = LeadScoreEntry
    fields = ["created_at", "score", "tier", "signals", "run"]
    ordering = ["-created_at"]


@admin.register(Contact)
class ContactAdmin(ContactPrivacyMixin, admin.ModelAdmin):
    list_display = ["email", "name", "company", "inquiry_count", "last_intent", "lead_tier", "last_inquiry_at"]
    list_filter = ["lead_tier", "last_intent"]
    search_fields = ["email", "name", "company"]
    readonly_fields = ["email", "inquiry_count", "last_intent", "last_inquiry_at", "lead_score", "lead_tier",
                       "created_at", "updated_at"]
    inlines = [LeadScoreInline]
    actions = [export_contacts_json, erase_contacts]

    def has_add_permission(self, request) -> bool:
        return False  # contacts come from inquiries


@admin.register(KnowledgeArticle)
class KnowledgeArticleAdmin(admin.ModelAdmin):
    list_display = ["title", "slug", "category", "is_published", "updated_at"]
    list_filter = ["is_published", "category"]
    search_fields = ["title", "body", "keywords"]
    prepopulated_fields = {"slug": ["title"]}
    fields = ["title", "slug", "category", "keywords", "body", "is_published"]


@admin.register(ProductName)
class ProductNameAdmin(admin.ModelAdmin):
    list_display = ["name", "alias_summary", "is_active", "updated_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "aliases"]
    fields = ["name", "aliases", "is_active"]

    @admin.display(description="aliases")
    def alias_summary(self, obj: ProductName) -> str:
        return ", ".join(obj.alias_list())


class ApiClientForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=ApiScope.choices, widget=forms.CheckboxSelectMultiple, required=False,
        initial=default_scopes, help_text="read_own: only the runs this key submitted; read_all: every run.",
    )

    class Meta:
        model = ApiClient
        fields = ["name", "is_active", "scopes", "rate_limit", "notes"]


@admin.register(ApiClient)
class ApiClientAdmin(admin.ModelAdmin):
    form = ApiClientForm
    list_display = ["name", "key_prefix", "scope_list", "is_active", "rate_limit", "last_used_at", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "key_prefix"]
    readonly_fields = ["key_prefix", "created_by", "created_at", "revoked_at", "last_used_at"]
    fields = ["name", "is_active", "scopes", "rate_limit", "notes", *readonly_fields]

    @admin.display(description="scopes")
    def scope_list(self, obj: ApiClient) -> str:
        return ", ".join(obj.scopes) or "—"

    def save_model(self, request, obj: ApiClient, form, change: bool) -> None:
        if not change:
            client, raw_key = services.api_client_create(
                name=obj.name, created_by=request.user, rate_limit=obj.rate_limit, notes=obj.notes,
                scopes=list(obj.scopes),
            )
            if not obj.is_active:
                services.api_client_set_active(client=client, active=False)
            obj.pk = client.pk
            obj.refresh_from_db()
            messages.warning(
                request,
                f"The key for {client.name} is {raw_key} — copy it now: it is stored only as a hash "
                "and will not be shown again.",
            )
            return
        was_active = ApiClient.objects.values_list("is_active", flat=True).get(pk=obj.pk)
        super().save_model(request, obj, form, change)
        if was_active != obj.is_active:
            services.api_client_set_active(client=obj, active=obj.is_active)

"""The admin of outbound webhooks (docs/webhooks.md): subscriptions are editable (the URL passes
the SSRF guard; the secret is shown once, at creation or rotation, masked after), deliveries and
their attempts are read-only, with a "Redeliver" action for whoever may change runs (operators).
The run's admin page lists its deliveries (`WebhookDeliveryInline`)."""

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest

from . import services
from .models import WebhookAttempt, WebhookDelivery, WebhookEvent, WebhookSubscription
from .webhook_http import TargetRefused, resolve


class WebhookSubscriptionForm(forms.ModelForm):
    url = forms.URLField(max_length=2000, assume_scheme="https")
    events = forms.MultipleChoiceField(choices=WebhookEvent.choices, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = WebhookSubscription
        fields = ["api_client", "url", "events", "is_active"]

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        try:
            resolve(url)
        except TargetRefused as exc:
            raise forms.ValidationError(str(exc)) from None
        return url


@admin.action(description="Rotate the secret (the old one signs too for 24 h)", permissions=["change"])
def rotate_secret(modeladmin, request: HttpRequest, queryset) -> None:
    for subscription in queryset:
        secret = services.webhook_subscription_rotate(subscription=subscription)
        messages.warning(request, f"The new secret of {subscription} is {secret} — copy it now: it will not be "
                                  "shown again.")


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    form = WebhookSubscriptionForm
    list_display = ["api_client", "url", "event_list", "is_active", "masked_secret", "consecutive_failures",
                    "circuit_open_until", "created_at"]
    list_filter = ["is_active"]
    list_select_related = ["api_client"]
    search_fields = ["url", "api_client__name"]
    readonly_fields = ["masked_secret", "previous_secret_expires_at", "consecutive_failures", "circuit_open_until",
                       "created_at", "updated_at"]
    fields = ["api_client", "url", "events", "is_active", *readonly_fields]
    actions = [rotate_secret]

    @admin.display(description="events")
    def event_list(self, obj: WebhookSubscription) -> str:
        return ", ".join(obj.events)

    @admin.display(description="secret")
    def masked_secret(self, obj: WebhookSubscription) -> str:
        return obj.masked_secret

    def save_model(self, request, obj: WebhookSubscription, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not change:
            messages.warning(request, f"The signing secret of {obj} is {obj.secret} — copy it now: it will not be "
                                      "shown again.")


class _ReadOnly:
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_redeliver_permission(self, request) -> bool:
        return request.user.has_perm("inquiries.change_run")


class WebhookAttemptInline(_ReadOnly, admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    fields = readonly_fields = ["number", "started_at", "outcome", "status_code", "latency_ms", "error",
                                "response_excerpt", "redelivery"]


class WebhookDeliveryInline(_ReadOnly, admin.TabularInline):
    model = WebhookDelivery
    extra = 0
    can_delete = False
    show_change_link = True
    fields = readonly_fields = ["event", "subscription", "status", "attempts", "last_status_code", "last_latency_ms",
                                "next_attempt_at", "delivered_at"]


@admin.action(description="Redeliver (same webhook-id)", permissions=["redeliver"])
def redeliver(modeladmin, request: HttpRequest, queryset) -> None:
    for delivery in queryset:
        services.webhook_redeliver(delivery_id=delivery.pk)
    messages.success(request, f"{queryset.count()} deliveries will be delivered again within seconds.")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(_ReadOnly, admin.ModelAdmin):
    list_display = ["webhook_id", "event", "subscription", "run", "status", "attempts", "last_status_code",
                    "last_latency_ms", "created_at", "delivered_at"]
    list_filter = ["status", "event"]
    list_select_related = ["subscription__api_client"]
    search_fields = ["webhook_id", "=run__id"]
    date_hierarchy = "created_at"
    inlines = [WebhookAttemptInline]
    actions = [redeliver]
    readonly_fields = ["webhook_id", "event", "subscription", "run", "status", "attempts", "next_attempt_at",
                       "last_status_code", "last_latency_ms", "last_response_excerpt", "last_error", "payload",
                       "created_at", "delivered_at"]

"""The Contact admin's privacy actions (docs/reliability.md, "Retention, erasure and export"):
export everything held about the selected people as JSON, or erase them everywhere. Each has its
own permission (`inquiries.export_contact`, `inquiries.erase_contact`): only staff granted it see
the action. Both go through the services, which audit them with a keyed hash of the address."""

import json

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from core.client_ip import client_ip

from . import services
from .errors import ActionRefused


class ContactPrivacyMixin:
    """`has_<name>_permission` methods are how the admin gates an action on a permission."""

    def has_export_contact_permission(self, request) -> bool:
        return request.user.has_perm("inquiries.export_contact")

    def has_erase_contact_permission(self, request) -> bool:
        return request.user.has_perm("inquiries.erase_contact")


@admin.action(description="Export everything held about the selected contacts (JSON)", permissions=["export_contact"])
def export_contacts_json(modeladmin, request: HttpRequest, queryset) -> HttpResponse:
    documents = [services.contact_export(email=email, actor=request.user, ip=client_ip(request))
                 for email in queryset.order_by("email").values_list("email", flat=True)]
    response = HttpResponse(json.dumps(documents[0] if len(documents) == 1 else documents, indent=2,
                                       ensure_ascii=False), content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="contact-export.json"'
    return response


@admin.action(description="Erase the selected contacts everywhere (cannot be undone)", permissions=["erase_contact"])
def erase_contacts(modeladmin, request: HttpRequest, queryset) -> TemplateResponse | None:
    if request.POST.get("post") != "yes":  # first ask, like "delete selected"
        context = {**modeladmin.admin_site.each_context(request), "title": "Erase these contacts everywhere?",
                   "contacts": queryset.order_by("email"), "opts": modeladmin.model._meta,
                   "action_checkbox_name": ACTION_CHECKBOX_NAME}
        return TemplateResponse(request, "admin/inquiries/contact/erase_confirmation.html", context)
    for email in list(queryset.values_list("email", flat=True)):
        try:
            counts = services.contact_erase(email=email, actor=request.user, ip=client_ip(request))
        except ActionRefused as exc:
            modeladmin.message_user(request, exc.message, messages.ERROR)
            continue
        modeladmin.message_user(request, f"Erased a contact: {counts['inquiries']} inquiries, {counts['runs']} runs.",
                                messages.SUCCESS)
    return None

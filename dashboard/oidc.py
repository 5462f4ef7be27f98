"""Single sign-on through an OpenID Connect provider (mozilla-django-oidc; settings in
autoflow/settings_oidc.py). The provider's role claim decides the console role on every sign-in:
a value in OIDC_OPERATOR_GROUPS makes an operator, one in OIDC_AUDITOR_GROUPS an auditor (both
may use the console and, read-only for auditors, the admin). A user with neither is refused and
keeps no role. Every sign-in, by password or by the provider, accepted or refused, is an audit
entry and a line on the `autoflow.audit` logger."""

import functools
import logging

import httpx
from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.auth.signals import user_logged_in
from django.core.exceptions import ImproperlyConfigured
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from mozilla_django_oidc.auth import OIDCAuthenticationBackend, default_username_algo
from mozilla_django_oidc.utils import import_from_settings
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from core.client_ip import client_ip
from inquiries import services
from inquiries.models import AuditAction
from inquiries.roles import AUDITORS, OPERATORS

logger = logging.getLogger("autoflow.audit")

BACKEND = "dashboard.oidc.OIDCBackend"
_DISCOVERED = {  # setting -> field of the provider's discovery document
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
}


@functools.cache
def _discovery(issuer: str) -> dict:
    """The provider's discovery document, fetched once per process."""
    response = httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=settings.OIDC_TIMEOUT)
    response.raise_for_status()
    document = response.json()
    if document.get("issuer", "").rstrip("/") != issuer:
        raise ImproperlyConfigured(f"OIDC_OP_ISSUER {issuer} differs from the provider's issuer {document.get('issuer')}")
    return document


def oidc_setting(attr: str, *args):
    """A mozilla-django-oidc setting; an endpoint not configured is read from OIDC_OP_ISSUER's discovery."""
    if attr in _DISCOVERED and not getattr(settings, attr, "") and settings.OIDC_OP_ISSUER:
        return _discovery(settings.OIDC_OP_ISSUER)[_DISCOVERED[attr]]
    return import_from_settings(attr, *args)


def _sign_in_kind(request) -> str:
    nxt = request.session.get("oidc_login_next") or request.GET.get("next") or request.path
    return "admin" if str(nxt).startswith("/admin/") else "console"


def roles_from(claims: dict) -> list[str]:
    """The console roles (Django groups) that the role claim's values grant."""
    values = claims.get(settings.OIDC_ROLE_CLAIM) or []
    values = {values} if isinstance(values, str) else {str(v) for v in values}
    roles = []
    if values & set(settings.OIDC_OPERATOR_GROUPS):
        roles.append(OPERATORS)
    if values & set(settings.OIDC_AUDITOR_GROUPS):
        roles.append(AUDITORS)
    return roles


def sync_roles(user, roles: list[str]) -> None:
    """Give `user` exactly these console roles (other groups are kept); staff only with a role."""
    wanted = [Group.objects.get_or_create(name=name)[0] for name in roles]
    user.groups.remove(*Group.objects.filter(name__in=[OPERATORS, AUDITORS]).exclude(name__in=roles))
    user.groups.add(*wanted)
    if not user.is_superuser and user.is_staff != bool(roles):
        user.is_staff = bool(roles)
        user.save(update_fields=["is_staff"])


class OIDCBackend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's backend: accounts matched by the verified e-mail address, created
    when new (without a usable password), roles re-synced from the claim on every sign-in."""

    get_settings = staticmethod(oidc_setting)

    def __init__(self, *args, **kwargs):
        # Endpoints are looked up when used (properties below): Django makes a backend for every
        # request of a signed-in user, which must not need the provider.
        self.OIDC_RP_CLIENT_ID = self.get_settings("OIDC_RP_CLIENT_ID")
        self.OIDC_RP_CLIENT_SECRET = self.get_settings("OIDC_RP_CLIENT_SECRET")
        self.OIDC_RP_SIGN_ALGO = self.get_settings("OIDC_RP_SIGN_ALGO", "RS256")
        self.OIDC_RP_IDP_SIGN_KEY = None
        from django.contrib.auth import get_user_model

        self.UserModel = get_user_model()

    OIDC_OP_TOKEN_ENDPOINT = property(lambda self: self.get_settings("OIDC_OP_TOKEN_ENDPOINT"))
    OIDC_OP_USER_ENDPOINT = property(lambda self: self.get_settings("OIDC_OP_USER_ENDPOINT"))
    OIDC_OP_JWKS_ENDPOINT = property(lambda self: self.get_settings("OIDC_OP_JWKS_ENDPOINT"))

    def _refuse(self, claims: dict, reason: str, user=None) -> None:
        self.request.oidc_refusal = reason
        target = user.get_username() if user is not None else f"oidc:{claims.get('sub', '')}"
        services.audit_record(action=AuditAction.SIGN_IN_REFUSED, target=target, ip=client_ip(self.request),
                              level=logging.WARNING,
                              detail={"method": "oidc", "reason": reason, "sign_in": _sign_in_kind(self.request)})

    def create_user(self, claims: dict):
        username = str(claims.get("preferred_username") or "")[:150]
        if not username or self.UserModel.objects.filter(username__iexact=username).exists():
            username = default_username_algo(claims.get("email"), claims)
        user = self.UserModel.objects.create_user(username, email=claims.get("email"))
        user.set_unusable_password()
        user.save(update_fields=["password"])
        return user

    def get_or_create_user(self, access_token, id_token, payload):
        claims = self.get_userinfo(access_token, id_token, payload)
        # Only an address the provider vouches for ("email_verified": true, not absent, not "false").
        if not claims.get("email") or claims.get("email_verified") is not True:
            return self._refuse(claims, "no_verified_email")
        users = list(self.filter_users_by_claims(claims)[:2])
        if len(users) > 1:
            return self._refuse(claims, "email_not_unique")
        user = users[0] if users else None
        # A local account (a usable password, or a superuser) is never taken over by an e-mail the
        # provider asserts, nor are its roles touched: only accounts single sign-on made are matched.
        if user is not None and (user.is_superuser or user.has_usable_password()):
            return self._refuse(claims, "local_account", user)
        roles = roles_from(claims)
        if not roles:
            if user is not None:
                sync_roles(user, [])
            return self._refuse(claims, "no_role", user)
        if user is not None and not user.is_active:
            return self._refuse(claims, "inactive", user)
        user = user or self.create_user(claims)
        sync_roles(user, roles)
        self.request.oidc_roles = roles
        return user


class _OnlyWhenEnabled:
    """Single sign-on's pages exist only when it is configured (OIDC_RP_CLIENT_ID)."""

    def dispatch(self, request, *args, **kwargs):
        if not settings.OIDC_ENABLED:
            raise Http404("Single sign-on is not configured.")
        return super().dispatch(request, *args, **kwargs)


class AuthenticateView(_OnlyWhenEnabled, OIDCAuthenticationRequestView):
    get_settings = staticmethod(oidc_setting)


class CallbackView(_OnlyWhenEnabled, OIDCAuthenticationCallbackView):
    """The provider's redirect back: a refusal is a page saying why (403), not a bare redirect."""

    get_settings = staticmethod(oidc_setting)

    def login_failure(self):
        request = self.request
        reason = getattr(request, "oidc_refusal", None)
        if reason is None:  # the provider's error, or a stale or forged state: not audited by the backend
            reason = "provider_error" if request.GET.get("error") else "failed"
            services.audit_record(action=AuditAction.SIGN_IN_REFUSED, target="", ip=client_ip(request),
                                  level=logging.WARNING,
                                  detail={"method": "oidc", "reason": reason, "sign_in": _sign_in_kind(request),
                                          "error": str(request.GET.get("error", ""))[:100]})
        return render(request, "registration/oidc_refused.html",
                      {"reason": reason, "provider": settings.OIDC_PROVIDER_NAME,
                       "login_url": reverse("admin:login" if _sign_in_kind(request) == "admin" else "dashboard:login")},
                      status=403)


def record_sign_in(sender, request, user, **kwargs) -> None:
    """`user_logged_in`: every accepted sign-in, by password or by the provider. Not a session
    made without any request (a synthetic HttpRequest without a method: the test client's
    force_login, scripts)."""
    if request is None or request.method is None:
        return
    oidc = getattr(user, "backend", "") == BACKEND
    detail = {"method": "oidc" if oidc else "password", "sign_in": _sign_in_kind(request)}
    if oidc:
        detail["roles"] = getattr(request, "oidc_roles", [])
    services.audit_record(action=AuditAction.SIGN_IN, actor=user, target=user.get_username(),
                          ip=client_ip(request), detail=detail)


def connect() -> None:
    user_logged_in.connect(record_sign_in, dispatch_uid="dashboard.record_sign_in")

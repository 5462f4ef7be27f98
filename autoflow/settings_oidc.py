"""Single sign-on (OpenID Connect, mozilla-django-oidc), in a module of its own (settings.py
imports it at its end). Off unless OIDC_RP_CLIENT_ID is set: then console and admin offer "Sign in
with <provider>", roles come from a claim of the provider (dashboard/oidc.py), and OIDC_ONLY=true
refuses local passwords. The variables are in `.env.example`, section Single sign-on; the provider
setup is in README.md, "Single sign-on"."""

from urllib.parse import urlsplit

import environ

from .settings_security import CONTENT_SECURITY_POLICY

_env = environ.Env()  # settings.py has already read `.env` into the environment

OIDC_RP_CLIENT_ID = _env.str("OIDC_RP_CLIENT_ID", default="")
OIDC_ENABLED = bool(OIDC_RP_CLIENT_ID)
OIDC_RP_CLIENT_SECRET = _env.str("OIDC_RP_CLIENT_SECRET", default="")
# The provider's issuer URL: its endpoints are read from <issuer>/.well-known/openid-configuration
# (once per process, when first needed). Each endpoint may instead be given on its own below.
OIDC_OP_ISSUER = _env.str("OIDC_OP_ISSUER", default="").rstrip("/")
OIDC_OP_AUTHORIZATION_ENDPOINT = _env.str("OIDC_OP_AUTHORIZATION_ENDPOINT", default="")
OIDC_OP_TOKEN_ENDPOINT = _env.str("OIDC_OP_TOKEN_ENDPOINT", default="")
OIDC_OP_USER_ENDPOINT = _env.str("OIDC_OP_USER_ENDPOINT", default="")
OIDC_OP_JWKS_ENDPOINT = _env.str("OIDC_OP_JWKS_ENDPOINT", default="")
OIDC_RP_SIGN_ALGO = _env.str("OIDC_RP_SIGN_ALGO", default="RS256")
# Scopes asked for: "email" is required (accounts are matched by e-mail address); add the scope
# your provider needs to release the role claim (e.g. "groups") if it has one.
OIDC_RP_SCOPES = _env.str("OIDC_RP_SCOPES", default="openid email profile")
OIDC_PROVIDER_NAME = _env.str("OIDC_PROVIDER_NAME", default="single sign-on")
# Roles: the claim's values (a list, or one string) that make a user an operator or an auditor.
# Re-synced on every sign-in; a user with neither is refused and loses both roles.
OIDC_ROLE_CLAIM = _env.str("OIDC_ROLE_CLAIM", default="groups")
OIDC_OPERATOR_GROUPS = _env.list("OIDC_OPERATOR_GROUPS", default=["operators"])
OIDC_AUDITOR_GROUPS = _env.list("OIDC_AUDITOR_GROUPS", default=["auditors"])
# True: console and admin accept only the provider's sign-in (local passwords are refused).
OIDC_ONLY = OIDC_ENABLED and _env.bool("OIDC_ONLY", default=False)
OIDC_TIMEOUT = _env.int("OIDC_TIMEOUT", default=10)  # seconds, each call to the provider

# mozilla-django-oidc's own settings, fixed here.
OIDC_USE_PKCE = True
OIDC_CREATE_USER = True
# Its views are mounted by autoflow/urls.py (dashboard.oidc.AuthenticateView, CallbackView).

if OIDC_ENABLED:
    # django-axes first (settings.py); the local passwords' backend only unless OIDC_ONLY.
    AUTHENTICATION_BACKENDS = [
        "axes.backends.AxesStandaloneBackend",
        *([] if OIDC_ONLY else ["django.contrib.auth.backends.ModelBackend"]),
        "dashboard.oidc.OIDCBackend",
    ]
    # The provider's sign-in pages post back to it and redirect to us: allow its origin as a
    # form target (Chromium applies form-action to a form's redirects too).
    _origins = {f"{p.scheme}://{p.netloc}" for p in map(urlsplit, [OIDC_OP_ISSUER, OIDC_OP_AUTHORIZATION_ENDPOINT])
                if p.scheme and p.netloc}
    CONTENT_SECURITY_POLICY["DIRECTIVES"]["form-action"] = ["'self'", *sorted(_origins)]

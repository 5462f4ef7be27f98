"""The end of settings.py's Security section, in a module of its own (settings.py imports it
there): sign-in throttling (django-axes) and the Content-Security-Policy (django-csp). Read from
the environment like the rest; the variables are in `.env.example`, section Security."""

import environ

_env = environ.Env()  # settings.py has already read `.env` into the environment

# Sign-in throttling (console and admin sign-in, dashboard/signin.py): after LOGIN_FAILURE_LIMIT
# failures for one account from any address, or from one address for any account, sign-in is
# refused (429) for LOGIN_LOCKOUT_MINUTES, every further failure restarting the pause.
# `manage.py axes_reset` (or axes_reset_username / axes_reset_ip) lifts it at once.
LOGIN_FAILURE_LIMIT = _env.int("LOGIN_FAILURE_LIMIT", default=5)
LOGIN_LOCKOUT_MINUTES = _env.int("LOGIN_LOCKOUT_MINUTES", default=15)
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = LOGIN_LOCKOUT_MINUTES / 60  # django-axes reads a number as hours
# Two parameters, each on its own (a list of lists would mean the pair): account OR address.
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_CLIENT_IP_CALLABLE = "core.client_ip.client_ip"
AXES_LOCKOUT_CALLABLE = "dashboard.signin.locked_out"
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"  # durable, and up without Redis
# A success must not clear the failures: one valid account would otherwise reset its address's count.
AXES_RESET_ON_SUCCESS = False

# Content-Security-Policy on every page (console, admin, API docs; core/csp.py): our own origin
# only. No inline script or style anywhere (the pages load theirs from static files; htmx's
# inline indicator styles are off, templates/base.html), so neither needs 'unsafe-inline'.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],  # Swagger UI's icons are data: URIs in its stylesheet
        "font-src": ["'self'"],
        "connect-src": ["'self'"],  # and ws(s)://<this host>, added per request by core/csp.py
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# Flash messages live in the session, not in a cookie: some carry what must not leave the server
# in clear (a webhook subscription's secret, shown once in the admin).
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

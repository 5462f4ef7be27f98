import logging
import time

from asgiref.sync import iscoroutinefunction, markcoroutinefunction

from .client_ip import is_trusted_proxy
from .request_id import sanitise_request_id, set_request_id

HEADER = "X-Request-ID"
logger = logging.getLogger("autoflow.request")
access_logger = logging.getLogger("autoflow.access")


class ForwardedHeadersMiddleware:
    """Removes `X-Forwarded-For`, `X-Forwarded-Proto` and `X-Forwarded-Host` from a request whose
    peer is not a trusted proxy (core/client_ip.py), before anything reads them: Django's
    SECURE_PROXY_SSL_HEADER then takes a request for HTTPS only on a trusted proxy's word. First in
    MIDDLEWARE, ahead of everything that reads `request.headers`."""

    HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST")

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    @classmethod
    def strip(cls, request) -> None:
        if is_trusted_proxy(request.META.get("REMOTE_ADDR")):
            return
        removed = [name for name in cls.HEADERS if request.META.pop(name, None) is not None]
        if removed:
            request.__dict__.pop("headers", None)  # a `request.headers` read before must not keep them

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        self.strip(request)
        return self.get_response(request)

    async def __acall__(self, request):
        self.strip(request)
        return await self.get_response(request)


class RequestIDMiddleware:
    """Gives every request an id (a sane client `X-Request-ID` is kept), exposes it to logs and
    error bodies, and returns it on every response, 500s included (Django turns exceptions into
    responses before they reach this middleware, outermost but for ForwardedHeadersMiddleware).
    Writes the access log line."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def _begin(self, request) -> None:
        request.request_id = sanitise_request_id(request.headers.get(HEADER))
        request.started_at = time.perf_counter()
        set_request_id(request.request_id)

    def _finish(self, request, response):
        response[HEADER] = request.request_id
        duration_ms = round((time.perf_counter() - request.started_at) * 1000, 1)
        if response.status_code >= 500:
            logger.error("%s %s -> %s", request.method, request.path, response.status_code)
        access_logger.info(
            "%s %s %s %.1fms", request.method, request.path, response.status_code, duration_ms,
            extra={"method": request.method, "path": request.path, "status": response.status_code,
                   "duration_ms": duration_ms},
        )
        # The id is cleared on request_finished (autoflow/apps.py), after Django's own response
        # logging (django.request, outside the middleware chain), which must still carry it.
        return response

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        self._begin(request)
        return self._finish(request, self.get_response(request))

    async def __acall__(self, request):
        self._begin(request)
        return self._finish(request, await self.get_response(request))

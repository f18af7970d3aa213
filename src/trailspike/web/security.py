"""Security of the web UI: response headers, access token, cross-site request protection.

Everything the UI shows can come from an attacker (CloudTrail error messages, user agents, ARNs),
so the page defends in depth: templates escape (autoescape), no data travels in inline scripts,
and the Content-Security-Policy forbids inline scripts anyway, so an escaping slip cannot run.

Implementation decisions:
- CSRF: a random token in a ``SameSite=Strict`` cookie, repeated in every form (double submit),
  plus a same-origin check on the ``Origin`` header of every state-changing request.
- Token: when set (required beyond loopback) every request needs it, from the
  ``Authorization: Bearer`` header or the cookie set by the login form / a ``?token=`` link;
  cookies hold an HMAC of the token, never the token itself.
- Without a token the UI only answers to loopback host names, which stops DNS rebinding from
  turning a browser into a proxy to the local UI.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.datastructures import URL
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp

CSRF_COOKIE = "ts_csrf"
CSRF_FIELD = "csrf_token"
TOKEN_COOKIE = "ts_session"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1", "[::1]")
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def is_loopback(host: str) -> bool:
    """Whether binding to ``host`` keeps the UI on this machine.

    >>> [is_loopback(h) for h in ("127.0.0.1", "localhost", "::1", "0.0.0.0", "10.0.0.5")]
    [True, True, True, False, False]
    """
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def session_value(token: str) -> str:
    """What the session cookie holds for ``token``: a keyed hash, so the cookie is not the token.

    >>> len(session_value("s3cret"))
    64
    """
    return hmac.new(token.encode(), b"trailspike-web-session", hashlib.sha256).hexdigest()


def token_ok(request: Request, token: str) -> bool:
    """Whether the request carries the access token (header or session cookie)."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer ") and hmac.compare_digest(
        header[7:].strip().encode(), token.encode()
    ):
        return True
    cookie = request.cookies.get(TOKEN_COOKIE, "")
    return hmac.compare_digest(cookie.encode(), session_value(token).encode())


def same_origin(request: Request) -> bool:
    """Whether the ``Origin`` (or, failing that, ``Referer``) names this server, if sent."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin:
        # Browsers send Origin on every cross-site POST; its absence means a non-browser client,
        # which the CSRF token check still covers.
        return True
    if origin == "null":
        return False
    parts = urlsplit(origin)
    return parts.netloc.lower() == request.headers.get("host", "").lower()


def csrf_token_for(request: Request) -> str:
    """The CSRF token of this browser (from its cookie, or a fresh one the response will set)."""
    token = getattr(request.state, "csrf_token", None)
    if token is None:
        token = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
        request.state.csrf_token = token
    return str(token)


def csrf_valid(request: Request, submitted: str | None) -> bool:
    """Whether a submitted form token matches the browser's CSRF cookie."""
    cookie = request.cookies.get(CSRF_COOKIE)
    if not cookie or not submitted:
        return False
    return hmac.compare_digest(cookie.encode(), submitted.encode())


class SecurityMiddleware(BaseHTTPMiddleware):
    """Token gate, origin check on unsafe methods, host check, headers and the CSRF cookie."""

    def __init__(self, app: ASGIApp, token: str = "", loopback_only: bool = True) -> None:
        super().__init__(app)
        self.token = token
        self.loopback_only = loopback_only and not token

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await self._guarded(request, call_next)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if not request.url.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        if request.cookies.get(CSRF_COOKIE) is None:
            response.set_cookie(
                CSRF_COOKIE, csrf_token_for(request), httponly=True, samesite="strict", path="/"
            )
        return response

    async def _guarded(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        if self.loopback_only and request.url.hostname not in LOOPBACK_NAMES:
            return PlainTextResponse(
                "trailspike serves only loopback host names unless started with --token", 421
            )
        if request.method in UNSAFE_METHODS and not same_origin(request):
            return PlainTextResponse("cross-site request refused", 403)
        if self.token:
            query_token = request.query_params.get("token")
            if query_token is not None and hmac.compare_digest(
                query_token.encode(), self.token.encode()
            ):
                return self._login_redirect(request.url)
            if not token_ok(request, self.token) and request.url.path not in ("/login",):
                if request.url.path.startswith("/static/"):
                    return PlainTextResponse("token required", 401)
                target = "/login?" + urlencode({"next": _path_and_query(request.url)})
                return RedirectResponse(target, status_code=303)
        return await call_next(request)

    def _login_redirect(self, url: URL) -> Response:
        """Swap a ``?token=`` link for the session cookie so the token leaves the address bar."""
        query = [(k, v) for k, v in parse_qsl(url.query, keep_blank_values=True) if k != "token"]
        clean = url.path + ("?" + urlencode(query) if query else "")
        response = RedirectResponse(clean, status_code=303)
        set_session_cookie(response, self.token)
        return response


def set_session_cookie(response: Response, token: str) -> None:
    """Mark the browser as holding the access token."""
    response.set_cookie(
        TOKEN_COOKIE, session_value(token), httponly=True, samesite="strict", path="/"
    )


def _path_and_query(url: URL) -> str:
    return url.path + ("?" + url.query if url.query else "")


def safe_next(target: str | None) -> str:
    """A local path to return to after login; anything else goes to the overview.

    >>> safe_next("/alerts?status=open"), safe_next("//evil.example/"), safe_next("https://x/")
    ('/alerts?status=open', '/', '/')
    """
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target

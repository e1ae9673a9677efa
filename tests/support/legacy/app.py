#!/usr/bin/env python3
"""A legacy web app, as thousands exist, for zenbridge's tests.

It has its own users, login form and session cookie, and it implements
Zendesk's documented JWT SSO protocol ("Enabling JWT single sign-on",
Zendesk's published examples): Zendesk sends the browser to the app's remote
login URL with `return_to`; the app signs the person in its own way, builds
an HS256 JWT with the shared secret holding only `iat`, `jti`, `email`,
`name` (and, for some users, `external_id`, `organization`, `tags`, `role`)
-- no `iss`, `aud` or `exp` -- and sends the browser to
`{zendesk_url}/access/jwt?jwt=...&return_to=...` by GET, or (jwt_mode
"post") by an auto-submitting form POST. `zendesk_url` is what an operator
writes where `https://{subdomain}.zendesk.com` was.

It also exposes a session check URL, as such apps do for their other
services (Ory Oathkeeper's `cookie_session` model): `GET /api/session` with
the session cookie, or with `Authorization: Bearer <token>` / the
`X-Session-Token` header for mobile session tokens, answers 200 and the
person's claims as JSON, or 401.

Standard library only (Python 3.11). No network beyond loopback.

Usage: app.py [--port 0] [--jwt-secret S] [--zendesk-url URL]
              [--jwt-mode get|post] [--session-ttl SECONDS]
Prints `listening on <port>` on its first stdout line once it serves.

Endpoints
  GET  /                      a home page with a "Help center" link
                              (`/zendesk/sso?return_to=/hc`: an unsolicited
                              sign-in, no prior visit to zenbridge)
  GET  /login?next=URL        the login form; after a good login the
                              browser goes to `next` (any URL: the test
                              decides; a real app would check it)
  POST /login                 email, password, next -> session cookie
                              `legacy_session` (HttpOnly, SameSite=Lax) and
                              a second, unrelated cookie `legacy_prefs`
  POST /api/mobile/login      JSON {email, password} -> {"token": "..."}
                              (a mobile session token, checked by
                              /api/session like the cookie)
  GET  /logout                ends the session
  GET  /zendesk/sso?return_to=R[&brand_id=B]
                              Zendesk's remote login URL: without a session,
                              the login form (coming back here); with one,
                              the JWT sent to {zendesk_url}/access/jwt
  GET  /api/session           the check URL (see above)

Test controls (loopback tests only)
  POST /_test/config          JSON, any of: zendesk_url, jwt_mode,
                              jwt_secret, check_mode ("ok", "down": 500,
                              "slow": sleeps 10 s then answers, "empty":
                              200 with `{}`, "garbage": 200 with non-JSON,
                              "no_json_type": 200 JSON as text/plain),
                              check_delay_ms, session_exp (seconds; the
                              check's answer carries `exp` = now + it)
  GET  /_test/stats           {"checks": n, "last_check_cookies": [names],
                              "last_check_headers": [lower-case names]}
  POST /_test/jwt             JSON {"email": ..., ...} -> {"jwt": ...}: the
                              token the app would send for those claims
                              (claims given replace the defaults)
  POST /_test/sessions        JSON {"email": ...} -> {"cookie": value}: a
                              session for that user without the form
"""

import argparse
import base64
import hashlib
import hmac
import html
import json
import secrets
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

USERS = {
    "ada@example.com": {
        "password": "lovelace",
        "name": "Ada Lovelace",
        "external_id": "legacy-ada",
        "organization": "Analytical Engines",
        "tags": ["legacy", "engines"],
        "email_verified": True,
    },
    "grace@example.com": {
        "password": "hopper",
        "name": "Grace Hopper",
        "email_verified": True,
    },
    # An address the app never confirmed.
    "mallory@example.com": {
        "password": "mallory",
        "name": "Mallory",
        "email_verified": False,
    },
}

SESSION_COOKIE = "legacy_session"
PREFS_COOKIE = "legacy_prefs"


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.zendesk_url = args.zendesk_url.rstrip("/")
        self.jwt_mode = args.jwt_mode
        self.jwt_secret = args.jwt_secret
        self.session_ttl = args.session_ttl
        self.sessions = {}  # id -> (email, expires)
        self.check_mode = "ok"
        self.check_delay_ms = 0
        self.session_exp = None
        self.checks = 0
        self.last_check_cookies = []
        self.last_check_headers = []

    def new_session(self, email):
        sid = secrets.token_urlsafe(24)
        with self.lock:
            self.sessions[sid] = (email, time.time() + self.session_ttl)
        return sid

    def session_user(self, sid):
        if not sid:
            return None
        with self.lock:
            found = self.sessions.get(sid)
        if not found or found[1] < time.time():
            return None
        return found[0]

    def end_session(self, sid):
        with self.lock:
            self.sessions.pop(sid, None)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def sign_hs256(claims, secret):
    header = b64url(json.dumps({"typ": "JWT", "alg": "HS256"}).encode())
    payload = b64url(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}".encode("ascii")
    sig = hmac.new(secret.encode(), signing_input, hashlib.sha256).digest()
    return f"{header}.{payload}.{b64url(sig)}"


def zendesk_claims(email):
    """What Zendesk's published examples put in the token."""
    user = USERS[email]
    claims = {
        "iat": int(time.time()),
        "jti": secrets.token_hex(16),
        "email": email,
        "name": user["name"],
    }
    for key in ("external_id", "organization", "tags", "role"):
        if key in user:
            claims[key] = user[key]
    return claims


def check_claims(email, state):
    user = USERS[email]
    claims = {
        "sub": "legacy-user-" + hashlib.sha256(email.encode()).hexdigest()[:12],
        "email": email,
        "email_verified": user["email_verified"],
        "name": user["name"],
    }
    if "external_id" in user:
        claims["external_id"] = user["external_id"]
    if state.session_exp is not None:
        claims["exp"] = int(time.time()) + int(state.session_exp)
    return claims


LOGIN_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Legacy portal: sign in</title></head>
<body>
<h1>Legacy portal</h1>
{error}
<form method="post" action="/login">
  <input type="hidden" name="next" value="{next}">
  <label>Email <input id="email" name="email" type="email"></label>
  <label>Password <input id="password" name="password" type="password"></label>
  <button id="sign-in" type="submit">Sign in</button>
</form>
</body></html>
"""

POST_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Signing you in</title></head>
<body onload="document.forms[0].submit()">
<form method="post" action="{action}">
  <input type="hidden" name="jwt" value="{jwt}">
  <input type="hidden" name="return_to" value="{return_to}">
  <noscript><button type="submit">Continue</button></noscript>
</form>
</body></html>
"""


def make_handler(state):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):  # quiet: the tests read stdout
            pass

        # -- helpers --------------------------------------------------
        def send(self, status, body=b"", content_type="text/html; charset=utf-8", headers=()):
            if isinstance(body, str):
                body = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def send_json(self, status, value, headers=()):
            self.send(status, json.dumps(value), "application/json", headers)

        def redirect(self, location, headers=()):
            self.send(302, b"", headers=[("Location", location), *headers])

        def query(self):
            return urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)

        def body(self):
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def form(self):
            return urllib.parse.parse_qs(self.body().decode("utf-8", "replace"))

        def cookies(self):
            jar = {}
            for part in (self.headers.get("Cookie") or "").split(";"):
                name, _, value = part.strip().partition("=")
                if name:
                    jar[name] = value
            return jar

        def session_email(self):
            return state.session_user(self.cookies().get(SESSION_COOKIE))

        def send_to_zendesk(self, email, return_to):
            claims = zendesk_claims(email)
            jwt = sign_hs256(claims, state.jwt_secret)
            access = state.zendesk_url + "/access/jwt"
            if state.jwt_mode == "post":
                page = POST_PAGE.format(
                    action=html.escape(access),
                    jwt=html.escape(jwt),
                    return_to=html.escape(return_to),
                )
                self.send(200, page)
            else:
                qs = urllib.parse.urlencode({"jwt": jwt, "return_to": return_to})
                self.redirect(f"{access}?{qs}")

        # -- routes ---------------------------------------------------
        def do_GET(self):
            path = urllib.parse.urlsplit(self.path).path
            q = self.query()
            if path == "/":
                self.send(
                    200,
                    '<!doctype html><title>Legacy portal</title>'
                    '<a id="help" href="/zendesk/sso?return_to=%2Fhc">Help center</a>',
                )
            elif path == "/login":
                nxt = (q.get("next") or ["/"])[0]
                self.send(200, LOGIN_PAGE.format(error="", next=html.escape(nxt)))
            elif path == "/logout":
                state.end_session(self.cookies().get(SESSION_COOKIE))
                self.redirect(
                    "/", [("Set-Cookie", f"{SESSION_COOKIE}=; Path=/; Max-Age=0")]
                )
            elif path == "/zendesk/sso":
                return_to = (q.get("return_to") or [""])[0]
                email = self.session_email()
                if email is None:
                    back = "/zendesk/sso?" + urllib.parse.urlencode({"return_to": return_to})
                    self.redirect("/login?" + urllib.parse.urlencode({"next": back}))
                else:
                    self.send_to_zendesk(email, return_to)
            elif path == "/api/session":
                self.check()
            elif path == "/_test/stats":
                with state.lock:
                    self.send_json(
                        200,
                        {
                            "checks": state.checks,
                            "last_check_cookies": state.last_check_cookies,
                            "last_check_headers": state.last_check_headers,
                        },
                    )
            else:
                self.send(404, "not found", "text/plain")

        def do_POST(self):
            path = urllib.parse.urlsplit(self.path).path
            if path == "/login":
                f = self.form()
                email = (f.get("email") or [""])[0].strip().lower()
                password = (f.get("password") or [""])[0]
                nxt = (f.get("next") or ["/"])[0]
                user = USERS.get(email)
                if user is None or not hmac.compare_digest(user["password"], password):
                    self.send(
                        401,
                        LOGIN_PAGE.format(
                            error='<p id="error">Wrong email or password.</p>',
                            next=html.escape(nxt),
                        ),
                    )
                    return
                sid = state.new_session(email)
                self.redirect(
                    nxt,
                    [
                        ("Set-Cookie", f"{SESSION_COOKIE}={sid}; Path=/; HttpOnly; SameSite=Lax"),
                        ("Set-Cookie", f"{PREFS_COOKIE}=theme-dark; Path=/"),
                    ],
                )
            elif path == "/api/mobile/login":
                try:
                    data = json.loads(self.body() or b"{}")
                except ValueError:
                    self.send_json(400, {"error": "bad json"})
                    return
                email = str(data.get("email", "")).lower()
                user = USERS.get(email)
                if user is None or not hmac.compare_digest(user["password"], str(data.get("password", ""))):
                    self.send_json(401, {"error": "wrong email or password"})
                    return
                self.send_json(200, {"token": state.new_session(email)})
            elif path == "/_test/config":
                data = json.loads(self.body() or b"{}")
                with state.lock:
                    if "zendesk_url" in data:
                        state.zendesk_url = data["zendesk_url"].rstrip("/")
                    for key in ("jwt_mode", "jwt_secret", "check_mode", "check_delay_ms", "session_exp"):
                        if key in data:
                            setattr(state, key, data[key])
                self.send_json(200, {"ok": True})
            elif path == "/_test/jwt":
                data = json.loads(self.body() or b"{}")
                email = data.get("email", "ada@example.com")
                claims = zendesk_claims(email) if email in USERS else {}
                claims.update(data)
                self.send_json(200, {"jwt": sign_hs256(claims, state.jwt_secret)})
            elif path == "/_test/sessions":
                data = json.loads(self.body() or b"{}")
                email = data.get("email", "ada@example.com")
                if email not in USERS:
                    self.send_json(400, {"error": "no such user"})
                    return
                self.send_json(200, {"cookie": state.new_session(email)})
            else:
                self.send(404, "not found", "text/plain")

        def check(self):
            with state.lock:
                state.checks += 1
                state.last_check_cookies = sorted(self.cookies().keys())
                state.last_check_headers = sorted(k.lower() for k in self.headers.keys())
                mode, delay = state.check_mode, state.check_delay_ms
            if delay:
                time.sleep(delay / 1000)
            if mode == "down":
                self.send(500, "internal error", "text/plain")
                return
            if mode == "slow":
                time.sleep(10)
            if mode == "garbage":
                self.send(200, "<html>not json", "application/json")
                return
            if mode == "empty":
                self.send_json(200, {})
                return
            token = self.cookies().get(SESSION_COOKIE)
            auth = self.headers.get("Authorization") or ""
            if auth.lower().startswith("bearer "):
                token = auth[7:].strip()
            token = self.headers.get("X-Session-Token") or token
            email = state.session_user(token)
            if email is None:
                self.send_json(401, {"error": "not signed in"})
                return
            claims = check_claims(email, state)
            if mode == "no_json_type":
                self.send(200, json.dumps(claims), "text/plain")
                return
            self.send_json(200, claims)

    return Handler


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--jwt-secret", default="legacy-shared-secret-0123456789abcdef")
    parser.add_argument("--zendesk-url", default="https://example.zendesk.com")
    parser.add_argument("--jwt-mode", choices=["get", "post"], default="get")
    parser.add_argument("--session-ttl", type=int, default=3600)
    args = parser.parse_args()
    state = State(args)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(state))
    server.daemon_threads = True
    print(f"listening on {server.server_address[1]}", flush=True)
    # Stop when the test that started us goes away (stdin closes).
    threading.Thread(target=lambda: (sys.stdin.read(), server.shutdown()), daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()

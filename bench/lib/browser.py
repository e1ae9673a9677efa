#!/usr/bin/env python3
"""Browser sign-in path overhead of zenbridge (gateway only, no OP).

Drives `zenbridge demo` (dev source "demo", sso target "helpcenter" in sandbox
mode) through complete browser sign-ins, the way a browser would, with a fresh
cookie jar per sign-in and a keep-alive connection per client:

  1. GET  /sso/helpcenter/login?return_to=/hc   -> the dev user list (200), or a
     redirect to /sso/helpcenter/login/demo that is followed (GET);
  2. POST /sso/helpcenter/login/demo  state=<from the form>&user=ada
     -> the auto-submit page holding the Zendesk JWT form.

Every sign-in is checked: the final page must hold a form posting `jwt` to the
sandbox access URL, and the JWT's payload must carry email = ada@example.com.
The POST to the sandbox itself is Zendesk's side and is not sent.

N sign-ins run one after another, then N more spread over W worker processes
(separate processes, so the client's GIL does not serialise them). The
gateway's CPU time (utime+stime from /proc/<pid>/stat) is read before and after
each phase. Standard library only.

    browser.py --url http://127.0.0.1:18080 --pid <gateway pid> --n 500 --workers 4 --out browser.json
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import multiprocessing as mp
import os
import re
import statistics
import sys
import time
import urllib.parse
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
TARGET = "helpcenter"
SOURCE = "demo"
USER = "ada"
EMAIL = "ada@example.com"
RETURN_TO = "/hc"

STATE_RE = re.compile(r'<input type="hidden" name="state" value="([^"]*)"')
FORM_RE = re.compile(r'<form method="post" id="zendesk-post" action="([^"]*)">')
JWT_RE = re.compile(r'<input type="hidden" name="jwt" value="([^"]*)"')


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


class Failure(Exception):
    pass


class Client:
    """One browser: a keep-alive connection; the cookie jar is reset per sign-in."""

    def __init__(self, base: str):
        u = urllib.parse.urlsplit(base)
        self.host, self.port = u.hostname, u.port or 80
        self.base = base.rstrip("/")
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        self.jar: dict[str, str] = {}

    def request(self, method: str, path: str, body: str | None = None):
        headers = {"Host": f"{self.host}:{self.port}"}
        if self.jar:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.jar.items())
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Origin"] = self.base
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=body, headers=headers)
                resp = self.conn.getresponse()
                data = resp.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # keep-alive connection closed by the server: reconnect once, as browsers do
                self.conn.close()
                if attempt == 2:
                    raise
        for raw in resp.headers.get_all("set-cookie") or []:
            pair, _, attrs = raw.partition(";")
            name, _, value = pair.strip().partition("=")
            if "max-age=0" in attrs.lower().replace(" ", "") or value == "":
                self.jar.pop(name, None)
            else:
                self.jar[name] = value
        return resp.status, resp.headers, data.decode("utf-8", "replace")

    def sign_in(self) -> dict:
        """One complete, checked sign-in; returns step timings in seconds."""
        self.jar.clear()
        t0 = time.perf_counter()
        path = f"/sso/{TARGET}/login?" + urllib.parse.urlencode({"return_to": RETURN_TO})
        status, headers, page = self.request("GET", path)
        hops = 0
        while status in (301, 302, 303, 307, 308) and hops < 3:
            loc = urllib.parse.urlsplit(urllib.parse.urljoin(self.base + path, headers["location"]))
            if (loc.hostname, loc.port or 80) != (self.host, self.port):
                raise Failure(f"login redirected off the gateway: {headers['location']}")
            path = loc.path + (f"?{loc.query}" if loc.query else "")
            status, headers, page = self.request("GET", path)
            hops += 1
        t1 = time.perf_counter()
        if status != 200:
            raise Failure(f"login page: status {status}")
        m = STATE_RE.search(page)
        if not m:
            raise Failure("login page: no state field in the dev form")
        if not any(k.startswith("zb_login") for k in self.jar):
            raise Failure(f"login page: no pending-login cookie (jar {sorted(self.jar)})")
        body = urllib.parse.urlencode({"state": m.group(1), "user": USER})
        status, _, page = self.request("POST", f"/sso/{TARGET}/login/{SOURCE}", body)
        t2 = time.perf_counter()
        if status != 200:
            raise Failure(f"dev form POST: status {status}: {page[:200]!r}")
        fm, jm = FORM_RE.search(page), JWT_RE.search(page)
        if not fm or not jm:
            raise Failure("final page: no form posting jwt")
        action = fm.group(1).replace("&amp;", "&")
        if "/sandbox/" not in urllib.parse.urlsplit(action).path:
            raise Failure(f"final page: form posts to {action}, not the sandbox")
        parts = jm.group(1).split(".")
        if len(parts) != 3:
            raise Failure("final page: jwt is not a compact JWS")
        try:
            claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        except ValueError as err:
            raise Failure(f"final page: jwt payload is not JSON ({err})") from err
        if claims.get("email") != EMAIL:
            raise Failure(f"final page: jwt email {claims.get('email')!r}, want {EMAIL!r}")
        return {"login": t1 - t0, "submit": t2 - t1, "total": t2 - t0}


def run_many(base: str, n: int, start_at: float | None = None) -> dict:
    c = Client(base)
    if start_at is not None:
        while time.time() < start_at:
            time.sleep(0.001)
    samples, failures = [], []
    t0 = time.perf_counter()
    for _ in range(n):
        try:
            samples.append(c.sign_in())
        except (Failure, OSError, http.client.HTTPException) as err:
            failures.append(str(err))
    return {"samples": samples, "failures": failures, "wall": time.perf_counter() - t0}


def _worker(args):
    base, n, start_at = args
    return run_many(base, n, start_at)


def pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    k = min(len(s) - 1, max(0, int(round(p / 100 * len(s) + 0.5)) - 1))
    return s[k]


def summarise(results: list[dict], wall: float, cpu_s: float, workers: int) -> dict:
    samples = [s for r in results for s in r["samples"]]
    failures = [f for r in results for f in r["failures"]]
    n_ok = len(samples)
    ms = lambda key, p: (None if not samples else round(pct([s[key] for s in samples], p) * 1000, 3))
    return {
        "workers": workers,
        "signins": n_ok + len(failures),
        "ok": n_ok,
        "failed": len(failures),
        "failures": sorted(set(failures))[:10],
        "wall_s": round(wall, 3),
        "signins_per_s": round(n_ok / wall, 1) if wall > 0 else None,
        "p50_ms": ms("total", 50),
        "p99_ms": ms("total", 99),
        "steps": {k: {"p50_ms": ms(k, 50), "p99_ms": ms(k, 99),
                      "mean_ms": round(statistics.fmean(s[k] for s in samples) * 1000, 3) if samples else None}
                  for k in ("login", "submit")},
        "gateway_cpu_s": round(cpu_s, 3),
        "cpu_us_per_signin": round(cpu_s * 1e6 / n_ok, 1) if n_ok else None,
        "gateway_cores": round(cpu_s / wall, 3) if wall > 0 else None,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True, help="base URL of `zenbridge demo`")
    ap.add_argument("--pid", type=int, required=True, help="the gateway's pid (CPU time)")
    ap.add_argument("--n", type=int, default=500, help="sign-ins per phase (default 500)")
    ap.add_argument("--workers", type=int, default=4, help="parallel clients in the second phase (default 4)")
    ap.add_argument("--warmup", type=int, default=20, help="unmeasured sign-ins first (default 20)")
    ap.add_argument("--out")
    a = ap.parse_args()

    warm = run_many(a.url, a.warmup)
    if warm["failures"]:
        print(f"browser: warm-up failed: {warm['failures'][0]}", file=sys.stderr)

    # sequential
    c0 = cpu_ticks(a.pid)
    t0 = time.perf_counter()
    seq = run_many(a.url, a.n)
    wall = time.perf_counter() - t0
    seq_sum = summarise([seq], wall, (cpu_ticks(a.pid) - c0) / CLK_TCK, 1)

    # parallel: W processes, N sign-ins in all, started together
    w = max(1, a.workers)
    shares = [a.n // w + (1 if i < a.n % w else 0) for i in range(w)]
    ctx = mp.get_context("fork")
    with ctx.Pool(w) as pool:
        start_at = time.time() + 0.3
        pending = pool.map_async(_worker, [(a.url, k, start_at) for k in shares])
        while time.time() < start_at:
            time.sleep(0.001)
        c0 = cpu_ticks(a.pid)
        t0 = time.perf_counter()
        par = pending.get()
        wall = time.perf_counter() - t0
        c1 = cpu_ticks(a.pid)
    par_sum = summarise(par, wall, (c1 - c0) / CLK_TCK, w)

    out = {
        "url": a.url,
        "flow": f"GET /sso/{TARGET}/login?return_to={RETURN_TO} -> dev form -> POST /sso/{TARGET}/login/{SOURCE} "
                f"(user {USER}) -> page posting jwt to the sandbox",
        "warmup": a.warmup,
        "warmup_failed": len(warm["failures"]),
        "sequential": seq_sum,
        "parallel": par_sum,
        "passed": not warm["failures"] and seq_sum["failed"] == 0 and par_sum["failed"] == 0
                  and seq_sum["ok"] > 0 and par_sum["ok"] > 0,
    }
    text = json.dumps(out, indent=2)
    if a.out:
        Path(a.out).write_text(text + "\n")
    for name, s in (("sequential", seq_sum), (f"parallel x{w}", par_sum)):
        print(f"browser {name}: {s['ok']}/{s['signins']} ok, {s['signins_per_s']} sign-ins/s, "
              f"p50 {s['p50_ms']} ms, p99 {s['p99_ms']} ms, gateway {s['cpu_us_per_signin']} µs CPU/sign-in"
              + (f"; first failure: {s['failures'][0]}" if s["failures"] else ""), file=sys.stderr)
    return 0 if out["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())

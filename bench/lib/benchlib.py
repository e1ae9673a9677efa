#!/usr/bin/env python3
"""Helpers for bench/run (standard library only).

Subcommands
  check       correctness check of one implementation (exit 1 on failure)
  wait-ready  poll GET <url> until it answers 200
  snap        CPU time and memory of a process tree, as JSON
  reset-peak  reset VmHWM (peak RSS) of a process tree (/proc/<pid>/clear_refs)
  startup     spawn a server K times: spawn -> ready time, idle RSS; stop it again
  assemble    turn one run's work directory into results-<run>.json
  machine     machine description as JSON
  jwks-count  number of JWKS fetches the bench issuer has served
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import platform
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


# --------------------------------------------------------------------------- HTTP

def http(method: str, url: str, body: bytes | None = None, headers: dict | None = None, timeout: float = 10.0):
    """Return (status, headers, body bytes); never raises for HTTP error statuses."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers or {}), err.read()


def raw_get_status(host: str, port: int, path: str, timeout: float = 0.5) -> int | None:
    """Minimal HTTP/1.1 GET returning the status code, or None if not reachable.

    Used for readiness polling: cheaper and more precise than urllib."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while b"\r\n" not in data:
                chunk = s.recv(256)
                if not chunk:
                    break
                data += chunk
            line = data.split(b"\r\n", 1)[0].split()
            return int(line[1]) if len(line) >= 2 else None
    except (OSError, ValueError):
        return None


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


# --------------------------------------------------------------------------- JWT

def b64url_decode(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def verify_hs256(token: str, secret: str) -> tuple[dict, dict]:
    """Verify an HS256 JWT with the raw UTF-8 secret; return (header, claims) or raise ValueError."""
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("not a compact JWS (3 parts)")
    h, p, s = parts
    header = json.loads(b64url_decode(h))
    if header.get("alg") != "HS256":
        raise ValueError(f"header alg is {header.get('alg')!r}, want HS256")
    if header.get("typ") != "JWT":
        raise ValueError(f"header typ is {header.get('typ')!r}, want JWT")
    expected = hmac.new(secret.encode(), f"{h}.{p}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, b64url_decode(s)):
        raise ValueError("HS256 signature does not verify with the Zendesk secret")
    return header, json.loads(b64url_decode(p))


# --------------------------------------------------------------------------- check

TOKEN_EXCHANGE = {
    "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
    "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
    "audience": "mobile",
}


def cmd_check(a) -> int:
    spec = json.loads(Path(a.tokens).read_text())
    good = spec["good"]
    secret = a.secret
    url = a.url
    results: list[dict] = []
    failed = False

    def body_for(token: str | None) -> bytes:
        if a.endpoint == "sdk":
            fields = {} if token is None else {"user_token": token}
        else:
            fields = dict(TOKEN_EXCHANGE)
            if token is not None:
                fields["subject_token"] = token
        return urllib.parse.urlencode(fields).encode()

    def post(token: str | None):
        return http("POST", url, body_for(token), {"Content-Type": "application/x-www-form-urlencoded"})

    def record(name: str, ok: bool, detail: str, *, warn_only: bool = False):
        nonlocal failed
        status = "ok" if ok else ("warn" if warn_only else "FAIL")
        if not ok and not warn_only:
            failed = True
        results.append({"case": name, "result": status, "detail": detail})
        print(f"  [{status:>4}] {name}: {detail}", file=sys.stderr)

    jtis = []
    field = "jwt" if a.endpoint == "sdk" else "access_token"
    for attempt in (1, 2):
        name = f"good token ({attempt})"
        status, _, body = post(good["token"])
        if status != 200:
            record(name, False, f"status {status}, want 200: {body[:200]!r}")
            continue
        try:
            doc = json.loads(body)
            token = doc[field]
            header, claims = verify_hs256(token, secret)
        except (ValueError, KeyError, TypeError) as err:
            record(name, False, f"bad answer ({err}): {body[:200]!r}")
            continue
        problems = []
        now = time.time()
        iat = claims.get("iat")
        if not isinstance(iat, int) or isinstance(iat, bool):
            problems.append(f"iat {iat!r} is not whole seconds")
        elif abs(iat - now) > 60:
            problems.append(f"iat {iat} is {iat - now:+.0f} s off")
        if not isinstance(claims.get("jti"), str) or not claims.get("jti"):
            problems.append("jti missing or empty")
        else:
            jtis.append(claims["jti"])
        for key, want in (("email", good["email"]), ("name", good["name"]), ("external_id", good["sub"])):
            if claims.get(key) != want:
                problems.append(f"{key} is {claims.get(key)!r}, want {want!r}")
        record(name, not problems, "; ".join(problems) or f"200, HS256 verifies, claims {sorted(claims)}")
    if len(jtis) == 2:
        record("jti differs between two answers", jtis[0] != jtis[1], f"{jtis[0]} / {jtis[1]}")

    # Invalid tokens: 401 with a JSON error for the SDK endpoint (Zendesk's contract);
    # RFC 6749 allows 400 invalid_grant on /token, so both are accepted there.
    want_bad = {401} if a.endpoint == "sdk" else {400, 401}
    for name, token in spec["bad"].items():
        status, _, body = post(token)
        ok = status in want_bad
        detail = f"status {status}"
        try:
            doc = json.loads(body)
            if not isinstance(doc, dict) or "error" not in doc:
                ok = False
                detail += ", body has no \"error\""
        except ValueError:
            ok = False
            detail += f", body is not JSON: {body[:80]!r}"
        record(f"rejects {name}", ok, detail + ("" if ok else f" (want {sorted(want_bad)})"))

    # Missing token: 400 expected; another 4xx is reported but does not fail the check.
    status, _, body = post(None)
    record("missing token -> 400", status == 400, f"status {status}", warn_only=400 < status < 500)

    out = {"endpoint": a.endpoint, "url": url, "passed": not failed, "cases": results}
    if a.out:
        Path(a.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"check {'PASSED' if not failed else 'FAILED'}: {url}", file=sys.stderr)
    return 0 if not failed else 1


# --------------------------------------------------------------------------- processes

def proc_tree(root: int) -> list[int]:
    """root and all its live descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        if Path(f"/proc/{pid}").exists():
            out.append(pid)
            todo.extend(children.get(pid, []))
    return out


def proc_stat(pid: int) -> dict | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    # fields[0] is state (field 3); utime=14, stime=15, cutime=16, cstime=17 -> index n-3
    utime, stime, cutime, cstime = (int(fields[i]) for i in (11, 12, 13, 14))
    mem = {}
    for line in status.splitlines():
        key, _, val = line.partition(":")
        if key in ("VmRSS", "VmHWM", "Name"):
            mem[key] = val.strip()

    def kb(key: str) -> int:
        return int(mem[key].split()[0]) if key in mem else 0

    return {
        "pid": pid,
        "name": mem.get("Name", "?"),
        "cpu_ticks": utime + stime + cutime + cstime,
        "rss_kb": kb("VmRSS"),
        "hwm_kb": kb("VmHWM"),
    }


def machine_ticks() -> dict:
    first = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    vals = [int(x) for x in first]
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
    return {"total": sum(vals[:8]), "idle": idle}


def snapshot(root: int) -> dict:
    procs = [p for p in (proc_stat(pid) for pid in proc_tree(root)) if p]
    ticks = sum(p["cpu_ticks"] for p in procs)
    return {
        "t": time.time(),
        "root": root,
        "processes": procs,
        "cpu_ticks": ticks,
        "cpu_s": ticks / CLK_TCK,
        "rss_kb": sum(p["rss_kb"] for p in procs),
        "hwm_kb": sum(p["hwm_kb"] for p in procs),
        "machine": machine_ticks(),
    }


def cmd_snap(a) -> int:
    snap = snapshot(a.pid)
    text = json.dumps(snap)
    if a.out:
        Path(a.out).write_text(text + "\n")
    else:
        print(text)
    return 0 if snap["processes"] else 1


def reset_peak(root: int) -> bool:
    ok = True
    for pid in proc_tree(root):
        try:
            Path(f"/proc/{pid}/clear_refs").write_text("5")
        except OSError:
            ok = False
    return ok


def cmd_reset_peak(a) -> int:
    return 0 if reset_peak(a.pid) else 1


def cmd_wait_ready(a) -> int:
    u = urllib.parse.urlsplit(a.url)
    deadline = time.monotonic() + a.timeout
    while time.monotonic() < deadline:
        if a.pid and not Path(f"/proc/{a.pid}").exists():
            print(f"process {a.pid} exited before it became ready", file=sys.stderr)
            return 1
        if raw_get_status(u.hostname, u.port, u.path or "/") == 200:
            return 0
        time.sleep(0.02)
    print(f"{a.url} not ready after {a.timeout} s", file=sys.stderr)
    return 1


def stop_group(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass
    # Workers may outlive the leader for a moment; wait for the whole group, then force.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def cmd_startup(a) -> int:
    u = urllib.parse.urlsplit(a.ready_url)
    host, port, path = u.hostname, u.port, u.path or "/"
    samples = []
    log = open(a.log, "ab") if a.log else subprocess.DEVNULL
    status = "ok"
    for i in range(a.repeat):
        deadline = time.monotonic() + 10
        while port_open(host, port):
            if time.monotonic() > deadline:
                print(f"port {port} still in use before start", file=sys.stderr)
                return 1
            time.sleep(0.05)
        t0 = time.perf_counter()
        proc = subprocess.Popen(a.command, stdout=log, stderr=log, start_new_session=True)
        ready_ms = None
        try:
            limit = t0 + a.timeout
            while time.perf_counter() < limit:
                if proc.poll() is not None:
                    break
                if raw_get_status(host, port, path, timeout=0.2) == 200:
                    ready_ms = (time.perf_counter() - t0) * 1000
                    break
                time.sleep(0.001)
            if ready_ms is None:
                status = "exited" if proc.poll() is not None else "timeout"
                print(f"startup: {a.command[0]} not ready ({status})", file=sys.stderr)
                break
            time.sleep(a.settle)
            snap = snapshot(proc.pid)
            samples.append({
                "ready_ms": round(ready_ms, 2),
                "idle_rss_kb": snap["rss_kb"],
                "processes": len(snap["processes"]),
            })
        finally:
            stop_group(proc)
    out = {
        "status": status,
        "settle_s": a.settle,
        "samples": samples,
        "ready_ms_median": statistics.median([s["ready_ms"] for s in samples]) if samples else None,
        "ready_ms_min": min((s["ready_ms"] for s in samples), default=None),
        "idle_rss_kb_median": statistics.median([s["idle_rss_kb"] for s in samples]) if samples else None,
    }
    Path(a.out).write_text(json.dumps(out, indent=2) + "\n")
    return 0 if status == "ok" else 1


# --------------------------------------------------------------------------- machine

def machine_info() -> dict:
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    def version(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return None
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "mem_total_mb": mem_kb // 1024,
        "kernel": platform.release(),
        "os": platform.platform(),
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "node": version(["node", "--version"]),
        "python": platform.python_version(),
        "wrk": version(["sh", "-c", "wrk --version 2>&1 | head -1"]),
        "rustc": version(["rustc", "--version"]),
        "go": version(["go", "version"]),
    }


def cmd_machine(a) -> int:
    print(json.dumps(machine_info(), indent=2))
    return 0


def cmd_brief(a) -> int:
    d = json.loads(Path(a.file).read_text())
    e, lat = d["errors"], d["latency_us"]
    sock = e["connect"] + e["read"] + e["write"] + e["timeout"]
    print(f"{d['rps']:.0f} req/s  p50 {lat['p50'] / 1000:.2f} ms  p99 {lat['p99'] / 1000:.2f} ms  "
          f"non-2xx {e['status']}  socket errors {sock}")
    return 0


def cmd_run_meta(a) -> int:
    """Describe a run (bench/run passes its settings in the environment)."""
    env = os.environ
    bench_env = {k: v for k, v in sorted(env.items()) if k.startswith("BENCH_")}
    command = " ".join([*(f"{k}={shlex.quote(v)}" for k, v in bench_env.items()), env["ORIG_CMD"]])
    meta = {
        "run_id": env["RUN_ID"],
        "index": int(env["RUN_INDEX"]),
        "runs": int(env["RUNS"]),
        "smoke": env["SMOKE"] == "1",
        "command": command,
        "duration_s": int(env["DURATION"]),
        "warmup_s": int(env["WARMUP"]),
        "connections": [int(c) for c in env["CONNS"].split()],
        "max_threads": int(env["MAX_THREADS"]),
        "implementations": env["IMPLS"].split(),
        "issuer": load_json(Path(env["ISSUER_META"])),
    }
    print(json.dumps(meta, indent=2))
    return 0


def cmd_ceiling_json(a) -> int:
    """Keep the JSON object the ceiling binary printed (whole output, or its last JSON line)."""
    text = Path(a.inp).read_text()
    obj = None
    try:
        obj = json.loads(text)
    except ValueError:
        for line in reversed(text.splitlines()):
            try:
                obj = json.loads(line)
                break
            except ValueError:
                continue
    if not isinstance(obj, dict):
        return 1
    Path(a.out).write_text(json.dumps(obj, indent=2) + "\n")
    return 0


def cmd_jwks_count(a) -> int:
    status, _, body = http("GET", a.url, timeout=5)
    if status != 200:
        print("-1")
        return 1
    print(json.loads(body)["jwks_requests"])
    return 0


# --------------------------------------------------------------------------- assemble

def load_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def measure_from(d: Path, conns: int, prefix: str = "") -> dict | None:
    wrk = load_json(d / f"{prefix}c{conns}.wrk.json")
    before = load_json(d / f"{prefix}c{conns}.before.json")
    after = load_json(d / f"{prefix}c{conns}.after.json")
    meta = load_json(d / f"{prefix}c{conns}.meta.json") or {}
    if not wrk:
        return None
    secs = wrk["duration_us"] / 1e6
    e = wrk["errors"]
    non2xx = e["status"]
    socket_errors = e["connect"] + e["read"] + e["write"] + e["timeout"]
    ok = max(wrk["requests"] - non2xx, 0)
    m = {
        "connections": conns,
        "threads": meta.get("threads"),
        "duration_s": round(secs, 3),
        "requests": wrk["requests"],
        "rps": round(wrk["requests"] / secs, 1),
        "ok_rps": round(ok / secs, 1),
        "latency_ms": {k: v / 1000 for k, v in wrk["latency_us"].items()},
        "p50_ms": wrk["latency_us"]["p50"] / 1000,
        "p99_ms": wrk["latency_us"]["p99"] / 1000,
        "non2xx": non2xx,
        "socket_errors": socket_errors,
        "errors": e,
    }
    if before and after:
        cpu_s = (after["cpu_ticks"] - before["cpu_ticks"]) / CLK_TCK
        wall = after["t"] - before["t"]
        mt = after["machine"]["total"] - before["machine"]["total"]
        mi = after["machine"]["idle"] - before["machine"]["idle"]
        m.update({
            "cpu_s": round(cpu_s, 3),
            "cpu_us_per_req": round(cpu_s * 1e6 / wrk["requests"], 2) if wrk["requests"] else None,
            "cpu_cores_used": round(cpu_s / wall, 3) if wall > 0 else None,
            "machine_busy_pct": round(100 * (mt - mi) / mt, 1) if mt > 0 else None,
            "peak_rss_kb": after["hwm_kb"],
            "rss_after_kb": after["rss_kb"],
            "processes": len(after["processes"]),
            "peak_reset": meta.get("peak_reset"),
        })
    return m


def floor_from(work: Path) -> dict | None:
    """The HTTP floor (GET /healthz), measured by bench/run at one connection count:
    the files floor.c<N>.*.json in the run's work directory."""
    for f in sorted(work.glob("floor.c*.wrk.json")):
        conns = f.name.removeprefix("floor.c").removesuffix(".wrk.json")
        if conns.isdigit():
            return measure_from(work, int(conns), prefix="floor.")
    return None


def cmd_assemble(a) -> int:
    work = Path(a.work)
    meta = load_json(work / "run.json") or {}
    result = {
        "run": meta.get("run_id", work.name),
        **meta,
        "machine": load_json(work / "machine.json"),
        "ceiling": load_json(work / "ceiling.json"),
        "browser": load_json(work / "browser.json"),
        "floor": floor_from(work),
        "implementations": {},
    }
    for d in sorted(p for p in work.iterdir() if p.is_dir()):
        impl_meta = load_json(d / "impl.json") or {}
        status_file = d / "status"
        entry = {
            **impl_meta,
            "status": status_file.read_text().strip() if status_file.exists() else "unknown",
            "startup": load_json(d / "startup.json"),
            "check": load_json(d / "check.json"),
            "jwks_fetches": (load_json(d / "jwks.json") or {}).get("jwks_fetches"),
            "measurements": [],
        }
        for c in impl_meta.get("connections") or meta.get("connections", []):
            m = measure_from(d, int(c))
            if m:
                entry["measurements"].append(m)
        result["implementations"][d.name] = entry
    Path(a.out).write_text(json.dumps(result, indent=2) + "\n")
    print(a.out)
    return 0


# --------------------------------------------------------------------------- main

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("check")
    p.add_argument("--url", required=True)
    p.add_argument("--endpoint", choices=["sdk", "token"], default="sdk")
    p.add_argument("--secret", required=True)
    p.add_argument("--tokens", required=True, help="check-tokens.json written by the issuer")
    p.add_argument("--out")
    p.set_defaults(fn=cmd_check)

    p = sub.add_parser("wait-ready")
    p.add_argument("--url", required=True)
    p.add_argument("--timeout", type=float, default=60)
    p.add_argument("--pid", type=int)
    p.set_defaults(fn=cmd_wait_ready)

    p = sub.add_parser("snap")
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--out")
    p.set_defaults(fn=cmd_snap)

    p = sub.add_parser("reset-peak")
    p.add_argument("--pid", type=int, required=True)
    p.set_defaults(fn=cmd_reset_peak)

    p = sub.add_parser("startup")
    p.add_argument("--ready-url", required=True)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--settle", type=float, default=1.0, help="seconds idle after ready before reading RSS")
    p.add_argument("--timeout", type=float, default=60)
    p.add_argument("--log")
    p.add_argument("--out", required=True)
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- <server command ...>")
    p.set_defaults(fn=cmd_startup)

    p = sub.add_parser("assemble")
    p.add_argument("--work", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(fn=cmd_assemble)

    p = sub.add_parser("machine")
    p.set_defaults(fn=cmd_machine)

    p = sub.add_parser("brief")
    p.add_argument("--file", required=True)
    p.set_defaults(fn=cmd_brief)

    p = sub.add_parser("run-meta")
    p.set_defaults(fn=cmd_run_meta)

    p = sub.add_parser("ceiling-json")
    p.add_argument("--in", dest="inp", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(fn=cmd_ceiling_json)

    p = sub.add_parser("jwks-count")
    p.add_argument("--url", required=True)
    p.set_defaults(fn=cmd_jwks_count)

    a = ap.parse_args()
    if a.cmd == "startup":
        if a.command and a.command[0] == "--":
            a.command = a.command[1:]
        if not a.command:
            ap.error("startup needs a server command after --")
    return a.fn(a)


if __name__ == "__main__":
    sys.exit(main())

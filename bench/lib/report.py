#!/usr/bin/env python3
"""Write the benchmark report (Markdown + PNG) from bench/out/results-*.json.

    report.py --out-md docs/benchmarks.md --out-png docs/benchmarks.png results-A.json results-B.json ...

Every figure is the median over the given runs. The PNG needs matplotlib
(bench/requirements-report.txt); --no-plot skips it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
from pathlib import Path

ORDER = ["zenbridge-sdk", "zenbridge-token", "zenbridge-sdk-repeated", "node-express", "node-jose", "python-starlette",
         "go-jwt"]
REPEATED = "zenbridge-sdk-repeated"
NOTES = Path(__file__).resolve().parent.parent / "NOTES.md"
BASELINES = ["node-express", "node-jose", "python-starlette", "go-jwt"]
LABEL = {
    "zenbridge-sdk": "zenbridge — POST /sdk/mobile/jwt",
    "zenbridge-token": "zenbridge — POST /token (RFC 8693)",
    REPEATED: "zenbridge — POST /sdk/mobile/jwt, same token every request",
    "node-express": "Node: Express + jsonwebtoken + jwks-rsa",
    "node-jose": "Node: node:http + jose",
    "python-starlette": "Python: Starlette + PyJWT (uvicorn)",
    "go-jwt": "Go: net/http + golang-jwt",
}
SHORT = {
    "zenbridge-sdk": "zenbridge /sdk",
    "zenbridge-token": "zenbridge /token",
    REPEATED: "zenbridge /sdk, repeated token",
    "node-express": "express+jsonwebtoken",
    "node-jose": "node+jose",
    "python-starlette": "starlette+pyjwt",
    "go-jwt": "go+golang-jwt",
}
REF_CONNS = 32

# PRODUCT.md §5 targets
T_RATIO = 2.5
T_P99_MS = 5.0
# CPU per SDK request against the cryptography plus the HTTP floor
# (GET /healthz under the same load).
T_CPU_X = 1.15
T_IDLE_MB = 30.0
T_PEAK_MB = 80.0
T_START_MS = 100.0
T_BASELINE_X = 20.0


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, spec=",.0f", none="—"):
    return none if v is None else format(v, spec)


def mb(kb):
    return None if kb is None else kb / 1024


# ----------------------------------------------------------------- ceiling

NS_KEY = re.compile(r"^(total_|combined_)?(ns|nanos)(_|/|-)?(per_?)?op$", re.I)
OPS_KEY = re.compile(r"^(total_|combined_)?ops(_|/|-)?(per_?)?(s|sec|second)$", re.I)


def ceiling_ns(obj) -> float | None:
    """ns per (RS256 verify + HS256 sign) from the ceiling binary's JSON.

    Accepted shapes: {"ns_per_op": N} / {"ns/op": N} / {"ops_per_sec": N} at the top
    level, or the same under a "total"/"combined"/"both" object."""
    if not isinstance(obj, dict):
        return None
    for key, val in obj.items():
        if NS_KEY.match(key) and isinstance(val, (int, float)):
            return float(val)
    for key, val in obj.items():
        if OPS_KEY.match(key) and isinstance(val, (int, float)) and val > 0:
            return 1e9 / float(val)
    for key in ("total", "combined", "both", "verify_and_sign", "rs256_verify_hs256_sign"):
        if isinstance(obj.get(key), dict):
            found = ceiling_ns(obj[key])
            if found is not None:
                return found
    return None


# ----------------------------------------------------------------- aggregation

def aggregate(runs: list[dict]) -> dict:
    impls: dict[str, dict] = {}
    for run in runs:
        for name, entry in run["implementations"].items():
            agg = impls.setdefault(name, {"statuses": [], "per_conn": {}, "startup": [], "idle_rss": [],
                                          "checks": [], "jwks_fetches": [], "command": entry.get("command")})
            agg["statuses"].append(entry.get("status"))
            if entry.get("check"):
                agg["checks"].append(entry["check"])
            if entry.get("jwks_fetches") is not None:
                agg["jwks_fetches"].append(entry["jwks_fetches"])
            st = entry.get("startup") or {}
            for s in st.get("samples", []):
                agg["startup"].append(s["ready_ms"])
                agg["idle_rss"].append(s["idle_rss_kb"])
            if entry.get("status") != "ok":
                continue
            for m in entry.get("measurements", []):
                agg["per_conn"].setdefault(m["connections"], []).append(m)
    out = {}
    for name, agg in impls.items():
        rows = {}
        for c, ms in sorted(agg["per_conn"].items()):
            rows[c] = {
                "runs": len(ms),
                "ok_rps": med(m["ok_rps"] for m in ms),
                "ok_rps_min": min(m["ok_rps"] for m in ms),
                "ok_rps_max": max(m["ok_rps"] for m in ms),
                "p50_ms": med(m["p50_ms"] for m in ms),
                "p99_ms": med(m["p99_ms"] for m in ms),
                "errors": med(m["non2xx"] + m["socket_errors"] for m in ms),
                "errors_max": max(m["non2xx"] + m["socket_errors"] for m in ms),
                "requests": med(m["requests"] for m in ms),
                "peak_rss_kb": med(m.get("peak_rss_kb") for m in ms),
                "cpu_us_per_req": med(m.get("cpu_us_per_req") for m in ms),
                "cpu_cores_used": med(m.get("cpu_cores_used") for m in ms),
                "machine_busy_pct": med(m.get("machine_busy_pct") for m in ms),
                "processes": med(m.get("processes") for m in ms),
            }
        out[name] = {
            "statuses": agg["statuses"],
            "ok": bool(agg["statuses"]) and all(s == "ok" for s in agg["statuses"]),
            "rows": rows,
            "ready_ms": med(agg["startup"]),
            "ready_ms_min": min(agg["startup"]) if agg["startup"] else None,
            "idle_rss_kb": med(agg["idle_rss"]),
            "startup_samples": len(agg["startup"]),
            "checks": agg["checks"],
            "jwks_fetches": agg["jwks_fetches"],
            "command": agg["command"],
        }
    return out


# ----------------------------------------------------------------- plot

def plot(agg: dict, conns: list[int], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.8))
    styles = {"zenbridge-sdk": ("C0", "o", "-"), "zenbridge-token": ("C0", "s", "--"),
              "node-express": ("C1", "^", "-"), "node-jose": ("C2", "v", "-"), "python-starlette": ("C3", "D", "-"),
              "go-jwt": ("C4", "P", "-")}
    for name in ORDER:
        if name == REPEATED or name not in agg or not agg[name]["rows"]:
            continue
        rows = agg[name]["rows"]
        xs = [c for c in conns if c in rows]
        color, marker, ls = styles.get(name, (None, "o", "-"))
        ax1.plot(xs, [rows[c]["ok_rps"] for c in xs], marker=marker, linestyle=ls, color=color, label=LABEL.get(name, name))
        ax2.plot(xs, [rows[c]["p99_ms"] for c in xs], marker=marker, linestyle=ls, color=color, label=LABEL.get(name, name))
    for ax in (ax1, ax2):
        ax.set_xscale("log", base=2)
        ax.set_xticks(conns)
        ax.set_xticklabels([str(c) for c in conns])
        ax.set_xlabel("concurrent connections (wrk)")
        ax.grid(True, which="both", alpha=0.3)
    ax1.set_ylabel("successful requests / s")
    ax1.set_ylim(bottom=0)
    ax1.set_title("Throughput (distinct RS256 tokens)")
    ax2.set_yscale("log")
    ax2.set_ylabel("p99 latency (ms, log scale)")
    ax2.set_title("p99 latency")
    ax2.axhline(T_P99_MS, color="grey", linestyle=":", linewidth=1)
    ax1.legend(fontsize=8, loc="best")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ----------------------------------------------------------------- markdown

def verdict(ok: bool | None) -> str:
    return "not measured" if ok is None else ("**met**" if ok else "**not met**")


def floor_section(w, runs: list[dict], zb_row: dict | None, ceiling: float, best_base) -> None:
    """Where zenbridge's CPU per request goes: the crypto ceiling, the HTTP floor
    (GET /healthz through the same server, kernel and load generator), the rest."""
    floors = [r.get("floor") for r in runs if r.get("floor")]
    floor = med(f.get("cpu_us_per_req") for f in floors)
    if not floor or not zb_row or not zb_row.get("cpu_us_per_req"):
        return
    cpu = zb_row["cpu_us_per_req"]
    crypto = ceiling / 1000
    rest = cpu - crypto - floor
    w("")
    w(f"### Where zenbridge's CPU per request goes ({REF_CONNS} connections)")
    w("")
    w(f"The HTTP floor is zenbridge answering `GET /healthz` (a static 200) under the same load "
      f"generator: {fmt(med(f.get('ok_rps') for f in floors))} req/s, "
      f"{floor:.1f} µs of zenbridge CPU per request (median of {len(floors)} run(s)) — accepting, "
      f"parsing and answering an HTTP request through hyper, axum, tokio and the loopback TCP stack, "
      f"with no token work.")
    w("")
    w("| part | µs per request | share |")
    w("|---|---:|---:|")
    for label, v in (("cryptography (the ceiling: RS256 verify + HS256 sign)", crypto),
                     ("HTTP floor (GET /healthz, same server and load)", floor),
                     ("the rest: body, form, token parsing, key lookup, claims checks, CEL mapping, "
                      "payload JSON, response", rest)):
        w(f"| {label} | {v:.1f} | {100 * v / cpu:.0f}% |")
    w(f"| **zenbridge, POST /sdk/mobile/jwt** | **{cpu:.1f}** | 100% |")
    w("")
    w(f"Against the ceiling plus the HTTP floor ({crypto + floor:.1f} µs), zenbridge spends "
      f"{cpu / (crypto + floor):.2f}×.")
    # What the load generator costs per request: the machine's busy CPU minus the server's,
    # during the floor run (nothing else should be running).
    ncpu = (runs[0].get("machine") or {}).get("nproc") or 2
    gen = med(((f["machine_busy_pct"] / 100 * ncpu) - f["cpu_cores_used"]) * 1e6 / f["ok_rps"]
              for f in floors if f.get("machine_busy_pct") is not None and f.get("cpu_cores_used") is not None
              and f.get("ok_rps"))
    if gen is not None and best_base and best_base[1]["ok_rps"]:
        goal = T_RATIO * best_base[1]["ok_rps"]
        budget = ncpu * 1e6 / goal - gen
        w("")
        w(f"The budget behind the throughput target: {T_RATIO:g}× the best baseline is {goal:,.0f} req/s. "
          f"The load generator costs about {gen:.1f} µs of CPU per request (the machine's busy time minus "
          f"the server's during the floor run), so at that rate the {ncpu} cores leave "
          f"{budget:.1f} µs per request for the gateway — "
          + ("less than the cryptography plus the HTTP floor alone "
             f"({crypto + floor:.1f} µs): no server on this machine could reach it with this load generator "
             "beside it." if budget < crypto + floor else
             f"more than the cryptography plus the HTTP floor ({crypto + floor:.1f} µs)."))


def build_markdown(runs: list[dict], agg: dict, png_name: str | None, md_path: Path) -> str:
    first = runs[0]
    m = first.get("machine") or {}
    conns = first.get("connections", [])
    issuer = first.get("issuer") or {}
    present = [n for n in ORDER if n in agg] + [n for n in agg if n not in ORDER]
    ceilings = [ceiling_ns(r.get("ceiling")) for r in runs]
    ceiling = med(ceilings)
    smoke = first.get("smoke")

    L: list[str] = []
    w = L.append
    w("# Benchmarks")
    w("")
    w("<!-- Generated by bench/run (bench/lib/report.py); do not edit by hand. -->")
    w("")
    w("zenbridge against four hand-written baselines serving the same Zendesk SDK JWT endpoint "
      "(`POST /sdk/mobile/jwt`, form field `user_token` = an RS256 ID token; answer `{\"jwt\": …}`, "
      "an HS256 token with `iat`, `jti`, `email`, `name`, `external_id`). Targets: PRODUCT.md §5.")
    if smoke:
        w("")
        w("**Smoke run** — 2 s per implementation at one connection count: it checks that every "
          "implementation answers correctly; its numbers are not a measurement.")
    w("")

    # --- summary / targets
    zb = agg.get("zenbridge-sdk")
    zb_row = zb["rows"].get(REF_CONNS) if zb else None
    base_rows = {b: agg[b]["rows"].get(REF_CONNS) for b in BASELINES if b in agg and agg[b]["rows"].get(REF_CONNS)}
    best_base = max(base_rows.items(), key=lambda kv: kv[1]["ok_rps"] or 0) if base_rows else None

    w(f"## Targets (PRODUCT.md §5), at {REF_CONNS} connections")
    w("")
    w("| target | goal | measured | verdict |")
    w("|---|---|---|---|")
    ratio = None
    if zb_row and best_base and best_base[1]["ok_rps"]:
        ratio = zb_row["ok_rps"] / best_base[1]["ok_rps"]
    w(f"| throughput vs best baseline | ≥ {T_RATIO:g}× | "
      + (f"{ratio:.2f}× ({fmt(zb_row['ok_rps'])} vs {fmt(best_base[1]['ok_rps'])} req/s, {SHORT[best_base[0]]})" if ratio is not None else "—")
      + f" | {verdict(None if ratio is None else ratio >= T_RATIO)} |")
    p99 = zb_row["p99_ms"] if zb_row else None
    w(f"| p99 latency | < {T_P99_MS:g} ms | {fmt(p99, '.2f')} ms | {verdict(None if p99 is None else p99 < T_P99_MS)} |")
    cpu = zb_row["cpu_us_per_req"] if zb_row else None
    floor_us = med((r.get("floor") or {}).get("cpu_us_per_req") for r in runs)
    base_us = (ceiling / 1000 + floor_us) if (ceiling and floor_us) else None
    cpu_x = (cpu / base_us) if (cpu is not None and base_us) else None
    w(f"| CPU per request vs crypto ceiling + HTTP floor | ≤ {T_CPU_X:g}× | "
      + (f"{cpu_x:.2f}× ({cpu:.1f} µs vs {ceiling / 1000:.1f} + {floor_us:.1f} µs)" if cpu_x else
         (f"{fmt(cpu, '.1f')} µs/req; ceiling or floor not measured" if cpu is not None else "—"))
      + f" | {verdict(None if cpu_x is None else cpu_x <= T_CPU_X)} |")
    idle = mb(zb["idle_rss_kb"]) if zb else None
    w(f"| resident memory, idle | < {T_IDLE_MB:g} MB | {fmt(idle, '.1f')} MB | {verdict(None if idle is None else idle < T_IDLE_MB)} |")
    peak = None
    if zb and zb["rows"]:
        peaks = [r["peak_rss_kb"] for r in zb["rows"].values() if r["peak_rss_kb"] is not None]
        peak = mb(max(peaks)) if peaks else None
    w(f"| resident memory, under load (peak, any connection count) | < {T_PEAK_MB:g} MB | {fmt(peak, '.1f')} MB | {verdict(None if peak is None else peak < T_PEAK_MB)} |")
    ready = zb["ready_ms"] if zb else None
    w(f"| start → ready (keys from a local provider) | < {T_START_MS:g} ms | {fmt(ready, '.1f')} ms | {verdict(None if ready is None else ready < T_START_MS)} |")
    if ceiling and base_rows:
        worst = min((r["cpu_us_per_req"] * 1000 / ceiling, b) for b, r in base_rows.items() if r["cpu_us_per_req"])
        w(f"| baselines' CPU per request vs ceiling (claim) | > {T_BASELINE_X:g}× | lowest {worst[0]:.1f}× ({SHORT[worst[1]]}) | "
          f"{'confirmed' if worst[0] > T_BASELINE_X else 'not confirmed'} |")
    w("| faults (provider down, unknown kid, reload) | see §5 | not measured by this benchmark | — |")
    w("")
    if ratio is not None:
        w(f"Ratio zenbridge / best baseline at {REF_CONNS} connections: **{ratio:.2f}×**"
          + (f"; zenbridge `/token`: {agg['zenbridge-token']['rows'][REF_CONNS]['ok_rps'] / best_base[1]['ok_rps']:.2f}×"
             if agg.get("zenbridge-token", {}).get("rows", {}).get(REF_CONNS) else "") + ".")
        w("")
    elif not zb:
        w("zenbridge was not part of this run, so the targets are not evaluated.")
        w("")
    if base_rows:
        w(f"Baseline ratios at {REF_CONNS} connections (zenbridge ÷ baseline, successful req/s): "
          + ", ".join(f"{SHORT[b]} {zb_row['ok_rps'] / r['ok_rps']:.2f}×" if zb_row and r["ok_rps"] else f"{SHORT[b]} —"
                      for b, r in base_rows.items()) + ".")
        w("")

    if png_name:
        w(f"![Throughput and p99 latency vs connections]({png_name})")
        w("")
    if agg.get(REPEATED, {}).get("rows"):
        w(f"The row *{LABEL[REPEATED]}* is the repeated-token workload ([below](#repeated-token-workload)); "
          "every other row, the plot and the targets use distinct tokens.")
        w("")

    # --- main table
    w("## Results")
    w("")
    n_runs = len(runs)
    w(f"Median of {n_runs} run{'s' if n_runs != 1 else ''}"
      f"{' (req/s range across runs in brackets)' if n_runs > 1 else ''}. "
      "req/s counts successful (2xx) answers only; errors = non-2xx answers + socket errors/timeouts; "
      "peak RSS = VmHWM summed over the server's processes during that connection count; "
      "CPU µs/req = user+system time of the server's processes during the measured run ÷ requests; "
      "cores = that CPU time ÷ wall time (the machine has "
      f"{m.get('nproc', '?')}, shared with wrk).")
    w("")
    w("| implementation | conns | req/s | p50 ms | p99 ms | errors | peak RSS MB | CPU µs/req | cores | procs |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in present:
        a = agg[name]
        if not a["ok"]:
            w(f"| {LABEL.get(name, name)} | — | **{', '.join(sorted(set(s for s in a['statuses'] if s != 'ok')))}** — not benchmarked | | | | | | | |")
            continue
        for c in sorted(set(conns) | set(a["rows"])):
            r = a["rows"].get(c)
            if not r:
                continue
            rng = f" ({fmt(r['ok_rps_min'])}–{fmt(r['ok_rps_max'])})" if n_runs > 1 else ""
            err = fmt(r["errors"], ",.0f") + (f" (max {r['errors_max']:,})" if r["errors_max"] and r["errors_max"] != r["errors"] else "")
            w(f"| {LABEL.get(name, name)} | {c} | {fmt(r['ok_rps'])}{rng} | {fmt(r['p50_ms'], '.2f')} | {fmt(r['p99_ms'], '.2f')} | "
              f"{err} | {fmt(mb(r['peak_rss_kb']), '.1f')} | {fmt(r['cpu_us_per_req'], '.1f')} | {fmt(r['cpu_cores_used'], '.2f')} | {fmt(r['processes'], '.0f')} |")
    w("")

    # --- startup
    w("## Start-up and idle memory")
    w("")
    w("Spawn → first `GET /readyz` answering 200 (polled every millisecond), then RSS (summed over "
      "the process tree) after 1 s idle; the server is then stopped. Keys come from the bench "
      "issuer on 127.0.0.1 (a local provider).")
    w("")
    w("| implementation | ready ms (median) | ready ms (min) | idle RSS MB | samples |")
    w("|---|---:|---:|---:|---:|")
    for name in present:
        a = agg[name]
        if name == REPEATED and not a["startup_samples"]:
            continue  # same binary and config as zenbridge-sdk; not started separately
        w(f"| {LABEL.get(name, name)} | {fmt(a['ready_ms'], '.1f')} | {fmt(a['ready_ms_min'], '.1f')} | "
          f"{fmt(mb(a['idle_rss_kb']), '.1f')} | {a['startup_samples']} |")
    w("")

    # --- ceiling
    w("## Ceiling: the cryptography alone")
    w("")
    if ceiling:
        w(f"`bench-ceiling` (one RS256 verify + one HS256 sign, in-process, CPU time per pair): "
          f"**{ceiling / 1000:.2f} µs per pair** ({1e9 / ceiling:,.0f} pairs/s), median of {len([c for c in ceilings if c])} run(s).")
        w("")
        w(f"| implementation | CPU µs/req at {REF_CONNS} conns | × ceiling |")
        w("|---|---:|---:|")
        for name in present:
            r = agg[name]["rows"].get(REF_CONNS)
            if name != REPEATED and r and r["cpu_us_per_req"]:
                w(f"| {LABEL.get(name, name)} | {r['cpu_us_per_req']:.1f} | {r['cpu_us_per_req'] * 1000 / ceiling:.1f}× |")
        raw = next((r.get("ceiling") for r in runs if r.get("ceiling")), None)
        per_call = med((r.get("ceiling") or {}).get("verify_rs256_per_call_ns") for r in runs)
        parsed = med((r.get("ceiling") or {}).get("verify_rs256_ns") for r in runs)
        if per_call and parsed:
            w("")
            w(f"The ceiling verifies with the RSA public key parsed once ({parsed / 1000:.1f} µs per verify), as "
              f"zenbridge does; `jsonwebtoken`'s per-call API rebuilds the key from `n` and `e` on every "
              f"verification and costs {per_call / 1000:.1f} µs.")
        all_cores = med((r.get("ceiling") or {}).get("ops_per_sec_all_cores") for r in runs)
        if all_cores and best_base:
            w("")
            w(f"On every core at once the cryptography alone does {all_cores:,.0f} pairs/s: with nothing else "
              f"running — no HTTP, no kernel, no load generator — that is "
              f"{all_cores / best_base[1]['ok_rps']:.1f}× the best baseline's req/s, the most any "
              f"implementation of this exchange could reach on this machine.")
        w("")
        w(f"Raw output (first run): `{json.dumps(raw)}`")
        floor_section(w, runs, zb_row, ceiling, best_base)
    else:
        w("Not measured: `target/release/bench-ceiling` was not built or printed no usable JSON "
          "(expected a JSON object with `ns_per_op` or `ops_per_sec`).")
    w("")

    # --- repeated token
    if REPEATED in agg:
        w_repeated(w, agg)

    # --- browser sign-in path
    w_browser(w, runs)

    # --- correctness
    w("## Correctness check")
    w("")
    w("Before any load, each implementation gets one good token (must answer 200 with an HS256 JWT "
      "that verifies with the Zendesk secret, header `typ: JWT`, `iat` within 60 s, non-empty `jti` "
      "differing between two answers, and `email`, `name`, `external_id` from the ID token) and "
      "known-bad ones (tampered signature and payload, expired, wrong audience, wrong issuer, signed by "
      "an unpublished key with the real `kid`, `alg: none`, HS256 keyed with the public key, "
      "not a JWT), each of which must get 401 with a JSON `error` (400 also accepted on `/token`). "
      "An implementation that fails is not benchmarked and the run fails.")
    w("")
    w("| implementation | result | cases | warnings | JWKS fetches (check + load) |")
    w("|---|---|---:|---|---:|")
    for name in present:
        a = agg[name]
        checks = a["checks"]
        passed = checks and all(c.get("passed") for c in checks)
        cases = len(checks[0]["cases"]) if checks else 0
        def short(text: str, n: int = 120) -> str:
            text = text.replace("|", "\\|")
            return text if len(text) <= n else text[:n] + "…"
        warns = sorted({short(f"{c['case']}: {c['detail']}") for ch in checks for c in ch["cases"] if c["result"] == "warn"})
        fails = sorted({short(f"{c['case']}: {c['detail']}") for ch in checks for c in ch["cases"] if c["result"] == "FAIL"})
        result = "passed" if passed else ("**FAILED**: " + "; ".join(fails) if fails else "**not run**")
        w(f"| {LABEL.get(name, name)} | {result} | {cases} | {'; '.join(warns) or '—'} | "
          f"{', '.join(str(x) for x in a['jwks_fetches']) or '—'} |")
    w("")

    # --- method
    w("## Method")
    w("")
    tokens = issuer.get("tokens")
    w(f"- Command: `{first.get('command', 'bench/run')}`"
      + (f" ({n_runs} runs)" if n_runs > 1 else ""))
    w(f"- Machine: {m.get('nproc')} CPUs, {m.get('cpu_model')}, {m.get('mem_total_mb', 0) / 1024:.1f} GB RAM; "
      f"kernel {m.get('kernel')}; {m.get('os')}")
    w(f"- Date: {m.get('date_utc')}; load average at the start of each run: "
      + ", ".join("/".join((r.get("machine") or {}).get("loadavg", ["?"])) for r in runs)
      + " (the machine may be shared; a high load average makes every number lower)")
    w(f"- Software: node {m.get('node')}, Python {m.get('python')}, {m.get('go') or 'go —'}, {m.get('wrk')}, {m.get('rustc')}")
    w(f"- Load: wrk, {first.get('warmup_s')} s warm-up then {first.get('duration_s')} s measured per connection "
      f"count ({', '.join(str(c) for c in conns)}), threads = min(connections, {first.get('max_threads')}), "
      "keep-alive, 5 s timeout, everything on 127.0.0.1; the load generator runs on the same cores as the server.")
    if tokens:
        max_req = max((r["requests"] for n, a in agg.items() if n != REPEATED for r in a["rows"].values()), default=0)
        reuse = max_req / tokens
        w(f"- Tokens: {tokens:,} distinct RS256 (RSA-2048) ID tokens, ~{issuer.get('token_bytes_avg')} bytes each; "
          "every request carries a different token (bench/wrk/post-bodies.lua walks the list in order, each wrk "
          "thread from its own offset) until the list wraps: the busiest measured run sent "
          f"{max_req:,.0f} requests, so each token was sent about {max(reuse, 1):.1f}× in it. An implementation that "
          "cached verification results per token string would gain from the repeats; none of the baselines does.")
    w("- Keys are cached by every implementation (jwks-rsa cache + rate limit; jose `createRemoteJWKSet`; "
      "`PyJWKClient` key and JWK-set caches; the Go baseline's own cache of parsed keys by kid, refetched for an "
      "unknown kid at most once a minute); the JWKS column above counts the key-set fetches each served instance "
      "made (one per worker process is expected; one for the single Go process).")
    w("- Baselines use every core: both Node baselines run node's `cluster` with one worker per CPU "
      "(Express's production guide), Starlette runs under uvicorn with `--workers` = CPUs (uvloop + httptools, "
      "access log off), the Go baseline is one process with GOMAXPROCS = CPUs (Go's default; built from Debian's "
      "golang-go and golang-github-golang-jwt-jwt-dev, GOPATH mode). Sources: `bench/baselines/`.")
    w("- CPU time and memory come from `/proc/<pid>/stat` (utime+stime, plus reaped children) and "
      "`/proc/<pid>/status` (VmHWM, reset before each connection count through `clear_refs`), "
      "summed over the server's process tree.")
    w("- Raw results: `bench/out/results-<run>.json` (not committed).")
    w("")

    # --- notes (bench/NOTES.md, written by hand, under its own heading)
    if NOTES.is_file():
        notes = NOTES.read_text().strip()
        if notes:
            w(notes)
            w("")
    return "\n".join(L)


def w_repeated(w, agg: dict) -> None:
    rep, dist = agg[REPEATED], agg.get("zenbridge-sdk")
    w("## Repeated-token workload")
    w("")
    w("`POST /sdk/mobile/jwt` with the **same** ID token on every request (one body line for wrk), "
      "against distinct tokens on every request in the zenbridge `/sdk` rows above. zenbridge has no "
      "cache of verified tokens on purpose — every request re-verifies, so a revoked/expired token or a "
      "key removed from the JWKS is refused at once and replay is not made cheaper; the repeated "
      "workload shows what such a cache could at most save.")
    w("")
    if not rep["ok"] or not rep["rows"]:
        w(f"Not measured: {', '.join(sorted(set(s for s in rep['statuses'] if s != 'ok'))) or 'no rows'}.")
        w("")
        return
    w("| workload | conns | req/s | p50 ms | p99 ms | CPU µs/req |")
    w("|---|---:|---:|---:|---:|---:|")
    for c, r in sorted(rep["rows"].items()):
        d = dist["rows"].get(c) if dist else None
        if d:
            w(f"| distinct tokens | {c} | {fmt(d['ok_rps'])} | {fmt(d['p50_ms'], '.2f')} | {fmt(d['p99_ms'], '.2f')} | {fmt(d['cpu_us_per_req'], '.1f')} |")
        w(f"| same token | {c} | {fmt(r['ok_rps'])} | {fmt(r['p50_ms'], '.2f')} | {fmt(r['p99_ms'], '.2f')} | {fmt(r['cpu_us_per_req'], '.1f')} |")
        if d and d["ok_rps"] and r["ok_rps"]:
            line = f"At {c} connections the same token gives {r['ok_rps'] / d['ok_rps']:.2f}× the distinct-token throughput"
            if d["cpu_us_per_req"] and r["cpu_us_per_req"]:
                line += (f" and {r['cpu_us_per_req'] - d['cpu_us_per_req']:+.1f} µs CPU per request "
                         f"({r['cpu_us_per_req'] / d['cpu_us_per_req']:.2f}×)")
            w("")
            w(line + ". zenbridge does the same work for both workloads (there is no per-token cache to "
              "hit), so this difference is noise and warm-cache effects; a cache of verified tokens could "
              "save at most the RS256 verification per request (see the ceiling above).")
    w("")


def w_browser(w, runs: list[dict]) -> None:
    results = [r.get("browser") for r in runs if r.get("browser")]
    if not results:
        return
    w("## Browser path")
    w("")
    first = results[0]
    w("The browser sign-in's own overhead in the gateway, with no identity provider: `zenbridge demo` "
      "(its built-in `dev` source `demo` and sso target `helpcenter` in sandbox mode) driven by "
      "`bench/lib/browser.py` like a browser — a fresh cookie jar per sign-in, a keep-alive connection "
      "per client: `GET /sso/helpcenter/login?return_to=/hc` (the dev user list, sets the sealed "
      "pending-login cookie) → `POST /sso/helpcenter/login/demo` with `state` and `user=ada` (mints the "
      "dev ID token, verifies and maps it, signs the Zendesk JWT, answers the auto-submit page). Every "
      "sign-in is checked: the final page holds a form posting `jwt` to the sandbox URL and the JWT's "
      "payload has `email` = ada@example.com. The POST to Zendesk (the sandbox) is not sent. "
      f"{first.get('warmup', 0)} unmeasured sign-ins first; gateway CPU = utime+stime of the "
      f"`zenbridge demo` process from `/proc/<pid>/stat` ({1000 // os.sysconf('SC_CLK_TCK')} ms ticks) "
      "around each phase; the Python client shares the machine's cores.")
    w("")
    n = len(results)
    w(f"Median of {n} run{'s' if n != 1 else ''}.")
    w("")
    w("| phase | sign-ins | failed | sign-ins/s | p50 ms | p99 ms | login page p50 ms | form POST p50 ms | gateway CPU µs/sign-in | gateway cores |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for key in ("sequential", "parallel"):
        ph = [r[key] for r in results if r.get(key)]
        if not ph:
            continue
        label = "sequential (1 client)" if key == "sequential" else f"parallel ({ph[0].get('workers')} clients)"
        w(f"| {label} | {fmt(med(p['signins'] for p in ph))} | {fmt(max(p['failed'] for p in ph))} | "
          f"{fmt(med(p['signins_per_s'] for p in ph))} | {fmt(med(p['p50_ms'] for p in ph), '.2f')} | "
          f"{fmt(med(p['p99_ms'] for p in ph), '.2f')} | "
          f"{fmt(med(p['steps']['login']['p50_ms'] for p in ph), '.2f')} | "
          f"{fmt(med(p['steps']['submit']['p50_ms'] for p in ph), '.2f')} | "
          f"{fmt(med(p['cpu_us_per_signin'] for p in ph), '.0f')} | {fmt(med(p['gateway_cores'] for p in ph), '.2f')} |")
    w("")
    if not all(r.get("passed") for r in results):
        fails = sorted({f for r in results for k in ("sequential", "parallel") for f in (r.get(k) or {}).get("failures", [])})
        w("**Some sign-ins failed their check**" + (": " + "; ".join(fails[:5]) if fails else "") + ".")
        w("")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("results", nargs="+")
    ap.add_argument("--out-md", required=True)
    ap.add_argument("--out-png")
    ap.add_argument("--no-plot", action="store_true")
    a = ap.parse_args()

    runs = [json.loads(Path(p).read_text()) for p in a.results]
    agg = aggregate(runs)
    md_path = Path(a.out_md)
    png_name = None
    if not a.no_plot and a.out_png:
        png_path = Path(a.out_png)
        m = runs[0].get("machine") or {}
        title = (f"zenbridge benchmark — {m.get('nproc')} CPUs ({m.get('cpu_model')}), "
                 f"{m.get('date_utc')}, median of {len(runs)} run(s)")
        try:
            plot(agg, runs[0].get("connections", []), png_path, title)
            png_name = os.path.relpath(png_path, md_path.parent)
        except ImportError as err:
            print(f"report: no plot ({err})", file=sys.stderr)
    md_path.write_text(build_markdown(runs, agg, png_name, md_path))
    print(md_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

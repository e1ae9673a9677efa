// Baseline: the Zendesk Support SDK JWT endpoint on node:http + jose, written the
// way jose's documentation shows it: createRemoteJWKSet (keys cached in memory,
// 10 min max age, 30 s cooldown before a refetch for an unknown kid), jwtVerify
// with issuer/audience/algorithms, SignJWT for the Zendesk token.
//
//   PORT=18080 JWKS_URL=http://127.0.0.1:18081/jwks.json ISSUER=http://127.0.0.1:18081 \
//   AUDIENCE=bench-client ZENDESK_SECRET=... node server.mjs
//
// POST /sdk/mobile/jwt   user_token=<RS256 ID token>  ->  200 {"jwt": "<HS256 Zendesk JWT>"}
//                                                        401 {"error": "invalid_token"}
//                                                        400 {"error": "invalid_request"}  (no user_token)
// GET  /readyz           200 once the worker listens
//
// Processes: like the Express baseline, one worker per CPU with node's built-in
// `cluster` module (Node's documentation of `cluster`: "to take advantage of
// multi-core systems, the user will sometimes want to launch a cluster of Node.js
// processes to handle the load"). WORKERS=1 gives the single-process shape.

import cluster from "node:cluster";
import http from "node:http";
import os from "node:os";
import { randomUUID } from "node:crypto";
import { createRemoteJWKSet, jwtVerify, SignJWT } from "jose";

const env = (name) => {
  const v = process.env[name];
  if (!v) {
    console.error(`missing environment variable ${name}`);
    process.exit(2);
  }
  return v;
};

const PORT = Number(env("PORT"));
const JWKS_URL = env("JWKS_URL");
const ISSUER = env("ISSUER");
const AUDIENCE = env("AUDIENCE");
const ZENDESK_SECRET = new TextEncoder().encode(env("ZENDESK_SECRET"));
const WORKERS = Number(process.env.WORKERS || os.availableParallelism());
const MAX_BODY = 16 * 1024;

if (cluster.isPrimary && WORKERS > 1) {
  let shuttingDown = false;
  for (let i = 0; i < WORKERS; i++) cluster.fork();
  cluster.on("exit", (worker, code, signal) => {
    if (!shuttingDown) {
      console.error(`worker ${worker.process.pid} died (${signal || code}), restarting`);
      cluster.fork();
    }
  });
  const stop = () => {
    shuttingDown = true;
    for (const id in cluster.workers) cluster.workers[id].kill("SIGTERM");
    setTimeout(() => process.exit(0), 2000).unref();
    cluster.on("exit", () => { if (Object.keys(cluster.workers).length === 0) process.exit(0); });
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
} else {
  const JWKS = createRemoteJWKSet(new URL(JWKS_URL));
  const verifyOptions = { issuer: ISSUER, audience: AUDIENCE, algorithms: ["RS256"] };

  const send = (res, status, obj) => {
    const body = JSON.stringify(obj);
    res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
    res.end(body);
  };

  async function readForm(req) {
    const type = (req.headers["content-type"] || "").split(";")[0].trim().toLowerCase();
    if (type !== "application/x-www-form-urlencoded") return null;
    const chunks = [];
    let size = 0;
    for await (const chunk of req) {
      size += chunk.length;
      if (size > MAX_BODY) return null;
      chunks.push(chunk);
    }
    return new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
  }

  async function sdkJwt(req, res) {
    const form = await readForm(req);
    const userToken = form && form.get("user_token");
    if (!userToken) return send(res, 400, { error: "invalid_request", error_description: "user_token is required" });

    let claims;
    try {
      ({ payload: claims } = await jwtVerify(userToken, JWKS, verifyOptions));
    } catch {
      return send(res, 401, { error: "invalid_token" });
    }
    const { sub, email, name } = claims;
    if (!sub || !email || !name) {
      return send(res, 401, { error: "invalid_token", error_description: "sub, email and name are required" });
    }
    // Zendesk SDK claims: iat (whole seconds), jti (never reused), email, name, external_id.
    const jwt = await new SignJWT({ email, name, external_id: sub })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setIssuedAt()
      .setJti(randomUUID())
      .sign(ZENDESK_SECRET);
    send(res, 200, { jwt });
  }

  const server = http.createServer((req, res) => {
    const path = req.url.split("?")[0];
    if (req.method === "POST" && path === "/sdk/mobile/jwt") {
      sdkJwt(req, res).catch(() => { if (!res.headersSent) send(res, 500, { error: "server_error" }); });
    } else if (req.method === "GET" && path === "/readyz") {
      send(res, 200, { status: "ready" });
    } else {
      send(res, 404, { error: "not_found" });
    }
  });
  server.listen(PORT, "127.0.0.1");
  const stop = () => server.close(() => process.exit(0));
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

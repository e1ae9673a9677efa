// Stand-in upstream identity provider for the zenbridge benchmark.
//
//   node issuer.mjs --port 18081 --out ../out --tokens 20000
//
// On start it
//   1. generates a fresh RSA-2048 key (kid set) -- nothing secret outlives the run,
//   2. mints N distinct RS256 ID tokens (iss http://127.0.0.1:<port>, aud bench-client,
//      sub user-<i>, email user<i>@example.com, name, iat now, exp now+2h, random nonce
//      and jti) and writes, under --out:
//        tokens.txt         one token per line
//        bodies-sdk.txt     one `user_token=<token>` form body per line (wrk input)
//        bodies-token.txt   one RFC 8693 token-exchange form body per line (wrk input)
//        check-tokens.json  one good token plus known-bad ones for the correctness check
//        issuer-meta.json   issuer, kid, audience, token count, expiry
//   3. serves on 127.0.0.1:<port>
//        GET /jwks.json                          the public key set (Cache-Control max-age=3600)
//        GET /.well-known/openid-configuration   minimal discovery document
//        GET /stats                              {"jwks_requests": n} -- how often keys were fetched
//   and prints one line `READY <port>` on stdout when everything is written and listening.
//
// Only listens on 127.0.0.1. Stops on SIGTERM/SIGINT.

import { createServer } from "node:http";
import { randomBytes, randomUUID, KeyObject } from "node:crypto";
import { mkdirSync, writeFileSync, renameSync } from "node:fs";
import { join, resolve } from "node:path";
import { generateKeyPair, exportJWK, SignJWT, calculateJwkThumbprint } from "jose";

function parseArgs(argv) {
  const opts = {
    port: Number(process.env.ISSUER_PORT || 18081),
    out: process.env.ISSUER_OUT || "out",
    tokens: Number(process.env.BENCH_TOKENS || 20000),
    audience: process.env.AUDIENCE || "bench-client",
    ttl: 2 * 3600,
  };
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    if (a === "--port") { opts.port = Number(v); i++; }
    else if (a === "--out") { opts.out = v; i++; }
    else if (a === "--tokens") { opts.tokens = Number(v); i++; }
    else if (a === "--audience") { opts.audience = v; i++; }
    else if (a === "--ttl") { opts.ttl = Number(v); i++; }
    else { console.error(`unknown argument ${a}`); process.exit(2); }
  }
  if (!Number.isInteger(opts.port) || opts.port <= 0) throw new Error("bad --port");
  if (!Number.isInteger(opts.tokens) || opts.tokens < 1) throw new Error("bad --tokens");
  return opts;
}

const opts = parseArgs(process.argv);
const issuer = `http://127.0.0.1:${opts.port}`;
const outDir = resolve(opts.out);
mkdirSync(outDir, { recursive: true });

// Write via a temp file + rename so a reader never sees a half-written file.
function writeAtomic(path, data) {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

const rand = (n = 16) => randomBytes(n).toString("base64url");

// ---- keys -----------------------------------------------------------------
const { publicKey, privateKey } = await generateKeyPair("RS256", { modulusLength: 2048, extractable: true });
const publicJwk = await exportJWK(publicKey);
const kid = (await calculateJwkThumbprint(publicJwk)).slice(0, 16);
Object.assign(publicJwk, { kid, alg: "RS256", use: "sig" });
const jwks = JSON.stringify({ keys: [publicJwk] });

// A second key that is NOT published, used to forge a token with the real kid.
const foreign = await generateKeyPair("RS256", { modulusLength: 2048 });

const now = Math.floor(Date.now() / 1000);
const exp = now + opts.ttl;

function claimsFor(i) {
  return {
    sub: `user-${i}`,
    email: `user${i}@example.com`,
    email_verified: true,
    name: `Bench User ${i}`,
    nonce: rand(12),
  };
}

async function mint(claims, { key = privateKey, header = { alg: "RS256", typ: "JWT", kid }, iss = issuer, aud = opts.audience, iat = now, expAt = exp } = {}) {
  return new SignJWT(claims)
    .setProtectedHeader(header)
    .setIssuer(iss)
    .setAudience(aud)
    .setIssuedAt(iat)
    .setExpirationTime(expAt)
    .setJti(randomUUID())
    .sign(key);
}

// ---- bulk tokens ------------------------------------------------------------
const t0 = process.hrtime.bigint();
const tokens = new Array(opts.tokens);
for (let i = 0; i < opts.tokens; i++) {
  tokens[i] = await mint(claimsFor(i));
}
const genMs = Number(process.hrtime.bigint() - t0) / 1e6;
if (new Set(tokens).size !== tokens.length) throw new Error("tokens are not distinct");

const tokenExchangeBody = (t) =>
  new URLSearchParams({
    grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
    subject_token: t,
    subject_token_type: "urn:ietf:params:oauth:token-type:id_token",
    audience: "mobile",
  }).toString();

writeAtomic(join(outDir, "tokens.txt"), tokens.join("\n") + "\n");
writeAtomic(join(outDir, "bodies-sdk.txt"), tokens.map((t) => new URLSearchParams({ user_token: t }).toString()).join("\n") + "\n");
writeAtomic(join(outDir, "bodies-token.txt"), tokens.map(tokenExchangeBody).join("\n") + "\n");

// ---- tokens for the correctness check --------------------------------------
const checkIndex = opts.tokens + 1; // not among the load tokens
const good = claimsFor(checkIndex);
const goodToken = await mint(good);

function tamperSignature(tok) {
  const [h, p, s] = tok.split(".");
  // Flip bits in the middle of the signature (the last base64url char may carry padding bits).
  const sig = Buffer.from(s, "base64url");
  sig[sig.length >> 1] ^= 0x5a;
  return `${h}.${p}.${sig.toString("base64url")}`;
}
function tamperPayload(tok) {
  const [h, p, s] = tok.split(".");
  const payload = JSON.parse(Buffer.from(p, "base64url").toString());
  payload.email = "attacker@example.com";
  return `${h}.${Buffer.from(JSON.stringify(payload)).toString("base64url")}.${s}`;
}
const b64json = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
const pubPem = KeyObject.from(publicKey).export({ type: "spki", format: "pem" });

const bad = {
  tampered_signature: tamperSignature(goodToken),
  tampered_payload: tamperPayload(goodToken),
  expired: await mint(claimsFor(checkIndex + 1), { iat: now - 7200, expAt: now - 3600 }),
  wrong_audience: await mint(claimsFor(checkIndex + 2), { aud: "someone-else" }),
  wrong_issuer: await mint(claimsFor(checkIndex + 3), { iss: "http://127.0.0.1:1/evil" }),
  foreign_key_same_kid: await mint(claimsFor(checkIndex + 4), { key: foreign.privateKey }),
  alg_none: `${b64json({ alg: "none", typ: "JWT", kid })}.${b64json({ ...claimsFor(checkIndex + 5), iss: issuer, aud: opts.audience, iat: now, exp })}.`,
  // Classic key-confusion attack: HS256 keyed with the RSA public key's PEM text.
  hs256_with_public_key: await mint(claimsFor(checkIndex + 6), { key: new TextEncoder().encode(pubPem), header: { alg: "HS256", typ: "JWT", kid } }),
  not_a_jwt: "not-a-jwt",
};

writeAtomic(join(outDir, "check-tokens.json"), JSON.stringify({
  issuer,
  audience: opts.audience,
  good: { token: goodToken, sub: good.sub, email: good.email, name: good.name },
  bad,
}, null, 2) + "\n");

writeAtomic(join(outDir, "issuer-meta.json"), JSON.stringify({
  issuer,
  jwks_url: `${issuer}/jwks.json`,
  kid,
  audience: opts.audience,
  tokens: opts.tokens,
  iat: now,
  exp,
  token_bytes_avg: Math.round(tokens.reduce((a, t) => a + t.length, 0) / tokens.length),
  generation_ms: Math.round(genMs),
}, null, 2) + "\n");

// ---- JWKS server --------------------------------------------------------------
let jwksRequests = 0;
const discovery = JSON.stringify({
  issuer,
  jwks_uri: `${issuer}/jwks.json`,
  id_token_signing_alg_values_supported: ["RS256"],
  response_types_supported: ["id_token"],
  subject_types_supported: ["public"],
});

const server = createServer((req, res) => {
  const path = req.url.split("?")[0];
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.writeHead(405, { "content-type": "application/json" }).end('{"error":"method_not_allowed"}');
    return;
  }
  if (path === "/jwks.json") {
    jwksRequests++;
    res.writeHead(200, { "content-type": "application/json", "cache-control": "public, max-age=3600" }).end(jwks);
  } else if (path === "/.well-known/openid-configuration") {
    res.writeHead(200, { "content-type": "application/json", "cache-control": "public, max-age=3600" }).end(discovery);
  } else if (path === "/stats") {
    res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" }).end(JSON.stringify({ jwks_requests: jwksRequests }));
  } else {
    res.writeHead(404, { "content-type": "application/json" }).end('{"error":"not_found"}');
  }
});
server.keepAliveTimeout = 30_000;

const shutdown = () => server.close(() => process.exit(0));
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);

server.listen(opts.port, "127.0.0.1", () => {
  console.error(`issuer: ${opts.tokens} tokens in ${Math.round(genMs)} ms, kid ${kid}, serving ${issuer}/jwks.json`);
  console.log(`READY ${opts.port}`);
});

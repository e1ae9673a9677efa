// A loopback issuer shaped like Microsoft Entra ID's multi-tenant endpoints,
// for zenbridge's tests. No real tenant is used: Entra cannot be reached
// from the test machines. Node's standard library only.
//
// What it copies from Entra (login.microsoftonline.com):
// - `GET /{common|organizations}/v2.0/.well-known/openid-configuration`
//   states the issuer as the template `{base}/{tenantid}/v2.0`, literally;
// - `GET /common/discovery/v2.0/keys`: the RS256 keys every tenant's
//   tokens are signed with (one key set for all tenants);
// - tokens carry `tid`, `oid`, `iss` = `{base}/{tid}/v2.0` (v2) or
//   `{base}/sts/{tid}/` (the v1 form, `https://sts.windows.net/{tid}/` in
//   Entra; here under the same host), `preferred_username`, optionally
//   `email` (never `email_verified`) and `upn`;
// - the authorization-code flow with PKCE at
//   `/organizations/oauth2/v2.0/authorize` and `/token`, signing in the
//   user set by `/_test/user` at once (no login form: the test is about
//   what zenbridge does with the tokens).
//
// Test controls:
//   POST /_test/sign  {"claims": {...}, "header": {...}} -> {"jwt": "..."}
//                     (claims given as is: the test sets iss, tid, aud, exp)
//   POST /_test/user  {"tid": ..., "oid": ..., "upn": ..., ...}: the claims
//                     the next authorization signs in (the v2 issuer of
//                     its tid is added, with aud, nonce, iat, exp)
//
// Usage: node entra.mjs   (prints `listening on <port>` once it serves;
// exits when its stdin closes)

import { createServer } from 'node:http';
import { createHash, createSign, generateKeyPairSync, randomBytes } from 'node:crypto';

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const kid = randomBytes(8).toString('hex');
const jwk = { ...publicKey.export({ format: 'jwk' }), kid, use: 'sig', kty: 'RSA' };

const b64url = (buf) => Buffer.from(buf).toString('base64url');

function sign(claims, header = {}) {
  const h = { alg: 'RS256', typ: 'JWT', kid, ...header };
  const input = `${b64url(JSON.stringify(h))}.${b64url(JSON.stringify(claims))}`;
  const s = createSign('RSA-SHA256');
  s.update(input);
  return `${input}.${b64url(s.sign(privateKey))}`;
}

let base = '';
let user = {};
const codes = new Map(); // code -> {claims, challenge, redirect_uri, client_id}

function readBody(req) {
  return new Promise((resolve) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

function json(res, status, value) {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function discovery(tenant) {
  return {
    issuer: `${base}/{tenantid}/v2.0`,
    jwks_uri: `${base}/common/discovery/v2.0/keys`,
    authorization_endpoint: `${base}/${tenant}/oauth2/v2.0/authorize`,
    token_endpoint: `${base}/${tenant}/oauth2/v2.0/token`,
    response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
    subject_types_supported: ['pairwise'],
    id_token_signing_alg_values_supported: ['RS256'],
    scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
    token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
    claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'nonce', 'tid', 'oid', 'preferred_username', 'email', 'name'],
    tenant_region_scope: null,
    cloud_instance_name: 'microsoftonline.com',
  };
}

const server = createServer(async (req, res) => {
  const url = new URL(req.url, base);
  const path = url.pathname;
  const disc = path.match(/^\/(common|organizations)\/v2\.0\/\.well-known\/openid-configuration$/);
  if (req.method === 'GET' && disc) return json(res, 200, discovery(disc[1]));
  if (req.method === 'GET' && path === '/common/discovery/v2.0/keys') return json(res, 200, { keys: [jwk] });
  const authorize = path.match(/^\/(common|organizations)\/oauth2\/v2\.0\/authorize$/);
  if (req.method === 'GET' && authorize) {
    const p = url.searchParams;
    if (p.get('response_type') !== 'code' || p.get('code_challenge_method') !== 'S256') {
      return json(res, 400, { error: 'invalid_request', error_description: 'code + S256 only' });
    }
    const code = randomBytes(16).toString('hex');
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      aud: p.get('client_id'),
      iat: now,
      nbf: now,
      exp: now + 3600,
      nonce: p.get('nonce'),
      ver: '2.0',
      ...user,
      iss: `${base}/${user.tid}/v2.0`,
      sub: createHash('sha256').update(`${user.oid}:${p.get('client_id')}`).digest('base64url'),
    };
    codes.set(code, {
      claims,
      challenge: p.get('code_challenge'),
      redirect_uri: p.get('redirect_uri'),
      client_id: p.get('client_id'),
    });
    const back = new URL(p.get('redirect_uri'));
    back.searchParams.set('code', code);
    back.searchParams.set('state', p.get('state') ?? '');
    res.writeHead(302, { location: back.toString() });
    return res.end();
  }
  const token = path.match(/^\/(common|organizations)\/oauth2\/v2\.0\/token$/);
  if (req.method === 'POST' && token) {
    const form = new URLSearchParams(await readBody(req));
    const found = codes.get(form.get('code'));
    codes.delete(form.get('code'));
    const verifier = form.get('code_verifier') ?? '';
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    if (!found || found.challenge !== challenge || found.redirect_uri !== form.get('redirect_uri')) {
      return json(res, 400, { error: 'invalid_grant' });
    }
    return json(res, 200, {
      token_type: 'Bearer',
      expires_in: 3600,
      access_token: randomBytes(24).toString('hex'),
      id_token: sign(found.claims),
    });
  }
  if (req.method === 'POST' && path === '/_test/sign') {
    const { claims, header } = JSON.parse(await readBody(req));
    return json(res, 200, { jwt: sign(claims, header) });
  }
  if (req.method === 'POST' && path === '/_test/user') {
    user = JSON.parse(await readBody(req));
    return json(res, 200, { ok: true });
  }
  json(res, 404, { error: 'not_found' });
});

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  base = `http://127.0.0.1:${port}`;
  console.log(`listening on ${port}`);
});
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();

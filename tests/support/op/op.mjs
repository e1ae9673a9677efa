#!/usr/bin/env node
// Reference OpenID Provider for zenbridge's integration tests.
//
// A real, certified OP implementation (panva/oidc-provider) on 127.0.0.1,
// configured so that a test can run the whole authorization-code + PKCE flow
// WITHOUT a login form: the interaction route logs in the account named by the
// `login_hint` authorization parameter and grants every requested scope.
//
// Usage:  node tests/support/op/op.mjs            (the harness does this)
//         node tests/support/op/op.mjs genkeys [N] (print a private JWKS with
//                                                  N fresh RSA keys, for OP_KEYS_FILE)
//
// Environment:
//   OP_PORT        port to listen on; 0 or unset = a free port picked by the OS.
//   OP_CLIENTS     JSON array of oidc-provider client metadata (client_id,
//                  client_secret, redirect_uris, token_endpoint_auth_method,
//                  post_logout_redirect_uris, grant_types, response_types, ...).
//                  Default: DEFAULT_CLIENTS below ("zenbridge", "zenbridge-post";
//                  redirect_uri http://127.0.0.1:<any port>/callback).
//   OP_KEYS_FILE   path of a JSON JWKS holding PRIVATE RSA keys ({"keys":[...]},
//                  each with a kid). The FIRST key signs; all are published at
//                  /jwks. Without it one fresh RS256 key is generated per start.
//                  Key rotation tests can either restart the OP on the same
//                  OP_PORT with another key file, or use POST /__test/rotate.
//   OP_ACCOUNTS    optional JSON object {login: claims} added to / overriding
//                  the built-in accounts (claims must contain "sub").
//   OP_ACCESS_TOKEN_TTL  optional lifetime of the (opaque) access tokens, in
//                  seconds (oidc-provider's default: 1 hour).
//   OP_VERBOSE=1   print oidc-provider's notices and every request to stderr.
//   OP_IGNORE_STDIN=1  do not exit when stdin closes (for running by hand
//                  with stdin at /dev/null).
//
// Protocol with the harness: once listening, exactly one line
//   READY http://127.0.0.1:<port>
// is written to stdout; nothing else is ever written to stdout (all logging
// goes to stderr). The process exits when stdin reaches EOF, so a crashed test
// (whose pipe closes) never leaves an orphan OP behind.
//
// Issuer: http://127.0.0.1:<port> (no trailing slash). Endpoints are the
// oidc-provider defaults: /.well-known/openid-configuration, /auth, /token,
// /jwks, /me (userinfo), /session/end (end_session_endpoint), /token/introspection,
// /token/revocation.
//
// Non-interactive login (GET /interaction/:uid):
//   - prompt "login": login_hint (email, or sub) names a known account -> logged
//     in; missing/unknown -> the flow ends with error=access_denied at the
//     redirect_uri. login_hint "error:<code>" ends the flow with that error
//     code (e.g. "error:login_required", "error:server_error").
//   - prompt "consent": a Grant with every requested OIDC scope and claim.
//   An existing OP session for another account than login_hint asks for login
//   again (extra "login_hint_changed" check), so one cookie jar can switch users.
//
// Test-only endpoints (this OP only ever runs on loopback, in tests):
//   POST /__test/rotate[?keep=0]  generate a new RSA key that signs from now on;
//                                 old keys stay published unless keep=0.
//                                 Answers the new public JWKS.
//   POST /__test/sign             body {"payload":{...}, "header":{...}?, "kid":"..."?}
//                                 -> {"jwt": "..."} signed RS256 with the current
//                                 signing key (or the key with that kid). The
//                                 payload is used as given (no iat/exp added).
//   GET  /__test/jwks-private     the private JWKS currently in use.

import http from 'node:http';
import fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import { format } from 'node:util';
import { generateKeyPair, exportJWK, importJWK, SignJWT } from 'jose';

// ---------------------------------------------------------------- logging --
// stdout carries only the READY line: every console method goes to stderr.
// oidc-provider's start-up warnings (unsupported Node LTS, in-memory adapter,
// "default X function called") are noise in tests: hidden unless OP_VERBOSE=1.
const VERBOSE = process.env.OP_VERBOSE === '1';
const NOISE = /oidc-provider (NOTICE|WARNING): (Unsupported runtime|a quick start|default .* function called)/;
const toStderr = (...args) => {
  const line = format(...args);
  if (!VERBOSE && NOISE.test(line)) return;
  process.stderr.write(`${line}\n`);
};
console.log = toStderr;
console.info = toStderr;
console.warn = toStderr;
console.error = toStderr;
const log = (...args) => process.stderr.write(`[op] ${format(...args)}\n`);


// ------------------------------------------------------------------- keys --
async function newSigningKey() {
  const { privateKey } = await generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
  const jwk = await exportJWK(privateKey);
  return { ...jwk, kid: `rsa-${randomBytes(6).toString('hex')}`, alg: 'RS256', use: 'sig' };
}

if (process.argv[2] === 'genkeys') {
  const n = Number(process.argv[3] ?? 1);
  const keys = [];
  for (let i = 0; i < n; i += 1) keys.push(await newSigningKey());
  process.stdout.write(`${JSON.stringify({ keys })}\n`);
  process.exit(0);
}

function loadKeys() {
  const file = process.env.OP_KEYS_FILE;
  if (!file) return null;
  const jwks = JSON.parse(fs.readFileSync(file, 'utf8'));
  const keys = Array.isArray(jwks) ? jwks : jwks.keys;
  if (!Array.isArray(keys) || keys.length === 0) throw new Error(`OP_KEYS_FILE ${file}: no keys`);
  for (const k of keys) {
    if (!k.d) throw new Error(`OP_KEYS_FILE ${file}: key ${k.kid} has no private part`);
    if (!k.kid) throw new Error(`OP_KEYS_FILE ${file}: every key needs a kid`);
  }
  return keys.map((k) => ({ alg: 'RS256', use: 'sig', ...k }));
}

// RSA key generation (0.15-0.4 s) runs on the thread pool while the main
// thread loads oidc-provider.
const keysReady = Promise.resolve(loadKeys() ?? newSigningKey().then((k) => [k]));
// Imported dynamically so that the console redirection above is in place
// before oidc-provider's module-level runtime check prints its warning.
const { default: Provider, interactionPolicy } = await import('oidc-provider');
let keys = await keysReady;

// --------------------------------------------------------------- accounts --
// Keyed by the login name that login_hint carries (the email where there is one).
const ACCOUNTS = {
  'alice@acme.com': {
    sub: 'alice', email: 'alice@acme.com', email_verified: true, name: 'Alice Liddell', groups: ['support'],
  },
  'bob@example.org': {
    sub: 'bob', email: 'bob@example.org', email_verified: false, name: 'Bob Builder', groups: [],
  },
  'carol@acme.com': {
    sub: 'carol', email: 'carol@acme.com', email_verified: true, groups: ['staff'],
  },
  'noemail@acme.com': { sub: 'noemail', name: 'No Email' },
  ...(process.env.OP_ACCOUNTS ? JSON.parse(process.env.OP_ACCOUNTS) : {}),
};
const BY_SUB = new Map(Object.values(ACCOUNTS).map((claims) => [claims.sub, claims]));

function accountForHint(hint) {
  if (typeof hint !== 'string' || hint === '') return undefined;
  return ACCOUNTS[hint] ?? ACCOUNTS[hint.toLowerCase()] ?? BY_SUB.get(hint);
}

async function findAccount(ctx, sub) {
  const claims = BY_SUB.get(sub);
  if (!claims) return undefined;
  return {
    accountId: sub,
    // oidc-provider filters these by the granted scopes/claims.
    async claims() { return structuredClone(claims); },
  };
}

// ---------------------------------------------------------------- clients --
// Default clients (used when OP_CLIENTS is unset; mirrored by the Rust harness
// constants in tests/support/provider.rs). They are "native" clients, for which
// oidc-provider ignores the port of loopback redirect URIs (RFC 8252 7.3): any
// http://127.0.0.1:<port>/callback matches, so one OP serves gateways started
// on random ports.
const DEFAULT_CLIENTS = [
  {
    client_id: 'zenbridge',
    client_secret: 'zenbridge-test-secret',
    application_type: 'native',
    token_endpoint_auth_method: 'client_secret_basic',
    redirect_uris: ['http://127.0.0.1/callback'],
    post_logout_redirect_uris: ['http://127.0.0.1/', 'http://127.0.0.1/logged-out'],
  },
  {
    client_id: 'zenbridge-post',
    client_secret: 'zenbridge-post-test-secret',
    application_type: 'native',
    token_endpoint_auth_method: 'client_secret_post',
    redirect_uris: ['http://127.0.0.1/callback'],
    post_logout_redirect_uris: ['http://127.0.0.1/', 'http://127.0.0.1/logged-out'],
  },
];
const clients = process.env.OP_CLIENTS ? JSON.parse(process.env.OP_CLIENTS) : DEFAULT_CLIENTS;
if (!Array.isArray(clients)) throw new Error('OP_CLIENTS must be a JSON array');

// ------------------------------------------------------------------ pages --
const page = (title, body) => `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${title}</title></head><body>${body}</body></html>`;
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

// --------------------------------------------------------------- provider --
function buildProvider(issuer) {
  const policy = interactionPolicy.base();
  policy.get('login').checks.add(new interactionPolicy.Check(
    'login_hint_changed',
    'login_hint names another account than the one signed in',
    (ctx) => {
      const { session, params } = ctx.oidc;
      if (!session.accountId || !params.login_hint) return interactionPolicy.Check.NO_NEED_TO_PROMPT;
      const account = accountForHint(params.login_hint);
      return account?.sub === session.accountId
        ? interactionPolicy.Check.NO_NEED_TO_PROMPT
        : interactionPolicy.Check.REQUEST_PROMPT;
    },
  ));

  const provider = new Provider(issuer, {
    clients,
    jwks: { keys },
    findAccount,
    claims: {
      acr: null,
      sid: null,
      auth_time: null,
      iss: null,
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name'],
      groups: ['groups'],
    },
    scopes: ['openid', 'offline_access', 'email', 'profile', 'groups'],
    // Put scope-requested claims into the ID token of the code flow too.
    conformIdTokenClaims: false,
    cookies: { keys: ['zenbridge-test-op-cookie-key-1', 'zenbridge-test-op-cookie-key-0'] },
    clientBasedCORS: () => true,
    ...(process.env.OP_ACCESS_TOKEN_TTL
      ? { ttl: { AccessToken: Number(process.env.OP_ACCESS_TOKEN_TTL) } }
      : {}),
    // Every client must send PKCE (S256 is the only method oidc-provider allows).
    pkce: { required: () => true },
    interactions: {
      policy,
      url: (ctx, interaction) => `/interaction/${interaction.uid}`,
    },
    features: {
      devInteractions: { enabled: false },
      claimsParameter: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        // No external assets; submits itself ("yes, sign me out") so that a
        // headless browser finishes the logout without a click.
        async logoutSource(ctx, form) {
          // The "yes" answer is a hidden field of the form itself, so a
          // client that just submits the form's fields (tests/support's
          // `follow`) signs out too.
          const yes = form.replace('</form>', '<input type="hidden" name="logout" value="yes"/></form>');
          ctx.body = page('Sign out', `${yes}
<button autofocus type="submit" form="op.logoutForm">Yes, sign me out</button>
<script>document.getElementById('op.logoutForm').submit();</script>`);
        },
        async postLogoutSuccessSource(ctx) {
          ctx.body = page('Signed out', '<h1>Signed out</h1>');
        },
      },
    },
    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = page('OP error', `<h1>OP error</h1>${Object.entries(out)
        .map(([k, v]) => `<pre id="${esc(k)}">${esc(k)}: ${esc(v)}</pre>`).join('')}`);
    },
  });

  provider.on('server_error', (ctx, err) => log('server_error', ctx?.path, err));
  for (const event of ['authorization.error', 'grant.error', 'end_session.error', 'userinfo.error',
    'introspection.error', 'revocation.error', 'jwks.error', 'discovery.error']) {
    provider.on(event, (ctx, err) => log(event, `${err.error}: ${err.error_description ?? err.message}`));
  }
  return provider;
}

// ----------------------------------------------------------- interactions --
async function handleInteraction(provider, req, res) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params } = details;

  if (prompt.name === 'login') {
    const hint = params.login_hint;
    if (typeof hint === 'string' && hint.startsWith('error:')) {
      return provider.interactionFinished(req, res, {
        error: hint.slice('error:'.length),
        error_description: 'error requested by login_hint',
      }, { mergeWithLastSubmission: false });
    }
    const account = accountForHint(hint);
    if (!account) {
      return provider.interactionFinished(req, res, {
        error: 'access_denied',
        error_description: hint ? `unknown user ${hint}` : 'login_hint is required by the test OP',
      }, { mergeWithLastSubmission: false });
    }
    return provider.interactionFinished(req, res, {
      login: { accountId: account.sub },
    }, { mergeWithLastSubmission: false });
  }

  if (prompt.name === 'consent') {
    const { accountId } = details.session;
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId, clientId: params.client_id });
    if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
    if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
    if (prompt.details.missingResourceScopes) {
      for (const [indicator, scopes] of Object.entries(prompt.details.missingResourceScopes)) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
    }
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, {
      consent: details.grantId ? {} : { grantId },
    }, { mergeWithLastSubmission: true });
  }

  return provider.interactionFinished(req, res, {
    error: 'access_denied',
    error_description: `the test OP cannot complete prompt ${prompt.name}`,
  }, { mergeWithLastSubmission: false });
}

// ------------------------------------------------------------ test admin --
async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

function sendJson(res, status, value) {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

const publicJwks = () => ({
  keys: keys.map(({ kty, n, e, kid, alg, use }) => ({ kty, n, e, kid, alg, use })),
});

// ----------------------------------------------------------------- server --
let provider; // replaced (same issuer, same in-memory storage) on key rotation
let handler;

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  if (VERBOSE) log(req.method, req.url);
  try {
    if (!provider) {
      res.writeHead(503).end('starting');
      return;
    }
    if (req.method === 'GET' && /^\/interaction\/[^/]+$/.test(url.pathname)) {
      await handleInteraction(provider, req, res);
      return;
    }
    if (req.method === 'POST' && url.pathname === '/__test/rotate') {
      const key = await newSigningKey();
      keys = url.searchParams.get('keep') === '0' ? [key] : [key, ...keys];
      provider = buildProvider(provider.issuer);
      handler = provider.callback();
      log('rotated signing key to', key.kid);
      sendJson(res, 200, publicJwks());
      return;
    }
    if (req.method === 'GET' && url.pathname === '/__test/jwks-private') {
      sendJson(res, 200, { keys });
      return;
    }
    if (req.method === 'POST' && url.pathname === '/__test/sign') {
      const body = JSON.parse(await readBody(req));
      const jwk = body.kid ? keys.find((k) => k.kid === body.kid) : keys[0];
      if (!jwk) {
        sendJson(res, 400, { error: `no key with kid ${body.kid}` });
        return;
      }
      const key = await importJWK(jwk, 'RS256');
      const jwt = await new SignJWT(body.payload ?? {})
        .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: jwk.kid, ...(body.header ?? {}) })
        .sign(key);
      sendJson(res, 200, { jwt });
      return;
    }
    handler(req, res);
  } catch (err) {
    log('error on', req.method, req.url, err);
    if (!res.headersSent) {
      sendJson(res, 400, { error: err.name ?? 'error', error_description: err.message });
    } else {
      res.end();
    }
  }
});

const port = Number(process.env.OP_PORT ?? 0);
server.listen(port, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  provider = buildProvider(issuer);
  handler = provider.callback();
  process.stdout.write(`READY ${issuer}\n`);
});
server.on('error', (err) => {
  log('cannot listen:', err.message);
  process.exit(1);
});

// Exit with the parent: stdin EOF means the test (or harness) is gone.
if (process.env.OP_IGNORE_STDIN !== '1') {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
}
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));

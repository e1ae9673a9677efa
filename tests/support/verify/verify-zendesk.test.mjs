// Self-test of the verifier: `node --test tests/support/verify/` (scripts/test runs it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { randomUUID } from 'node:crypto';

import { verify } from './verify-zendesk.mjs';

const require = createRequire(new URL('../op/package.json', import.meta.url));
const jose = await import(pathToFileURL(require.resolve('jose')).href);

const SECRET = 'correct-horse-battery-staple';
const now = () => Math.floor(Date.now() / 1000);

async function sign(payload, header = { alg: 'HS256', typ: 'JWT' }, secret = SECRET) {
  return new jose.SignJWT(payload).setProtectedHeader(header).sign(new TextEncoder().encode(secret));
}

const ssoClaims = () => ({
  iat: now(), jti: randomUUID(), email: 'alice@acme.com', name: 'Alice Liddell',
});

async function expectOk(input) {
  const r = await verify(input);
  assert.equal(r.ok, true, JSON.stringify(r.errors));
  return r;
}

async function expectError(input, pattern) {
  const r = await verify(input);
  assert.equal(r.ok, false, `expected a failure matching ${pattern}`);
  assert.ok(r.errors.some((e) => pattern.test(e)), `no error matches ${pattern}: ${JSON.stringify(r.errors)}`);
  return r;
}

test('sso: a good token passes', async () => {
  const r = await expectOk({ jwt: await sign(ssoClaims()), secret: SECRET, surface: 'sso' });
  assert.equal(r.payload.email, 'alice@acme.com');
  assert.deepEqual(r.header, { alg: 'HS256', typ: 'JWT' });
});

test('sso: optional claims with the right types pass', async () => {
  await expectOk({
    jwt: await sign({
      ...ssoClaims(),
      external_id: 'oidc|alice',
      tags: ['a', 'b'],
      user_fields: { plan: 'gold', seats: 3 },
      organization_id: 42,
      role: 'agent',
      custom_role_id: 7,
      locale_id: 1,
      phone: '+15551234567',
      remote_photo_url: 'https://example.com/a.png',
    }),
    secret: SECRET,
    surface: 'sso',
  });
  await expectOk({ jwt: await sign({ ...ssoClaims(), organization_id: '42' }), secret: SECRET, surface: 'sso' });
});

test('wrong secret, missing typ, wrong alg are refused', async () => {
  await expectError({ jwt: await sign(ssoClaims(), undefined, 'other-secret'), secret: SECRET, surface: 'sso' }, /signature invalid/);
  await expectError({ jwt: await sign(ssoClaims(), { alg: 'HS256' }), secret: SECRET, surface: 'sso' }, /typ must be "JWT"/);
  await expectError({ jwt: await sign(ssoClaims(), { alg: 'HS384', typ: 'JWT' }), secret: SECRET, surface: 'sso' }, /alg must be "HS256"/);
});

test('the secret is used as raw UTF-8, never base64-decoded', async () => {
  const b64secret = Buffer.from(SECRET).toString('base64');
  // Token signed with the decoded bytes of a base64-looking secret must fail.
  const jwt = await new jose.SignJWT(ssoClaims()).setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .sign(Buffer.from(b64secret, 'base64'));
  await expectError({ jwt, secret: b64secret, surface: 'sso' }, /signature invalid/);
});

test('iat must be an integer within the window', async () => {
  await expectError({ jwt: await sign({ ...ssoClaims(), iat: now() - 181 }), secret: SECRET, surface: 'sso' }, /iat must be within 180 s/);
  await expectError({ jwt: await sign({ ...ssoClaims(), iat: now() + 0.5 }), secret: SECRET, surface: 'sso' }, /iat must be an integer/);
  await expectError({ jwt: await sign({ ...ssoClaims(), iat: String(now()) }), secret: SECRET, surface: 'sdk' }, /iat must be an integer/);
  await expectOk({ jwt: await sign({ ...ssoClaims(), iat: now() - 170 }), secret: SECRET, surface: 'sso' });
});

test('sso/sdk: jti, email, name required and non-empty', async () => {
  const { jti, ...noJti } = ssoClaims();
  await expectError({ jwt: await sign(noJti), secret: SECRET, surface: 'sso' }, /jti must be a non-empty string/);
  await expectError({ jwt: await sign({ ...ssoClaims(), jti: '' }), secret: SECRET, surface: 'sdk' }, /jti must be a non-empty string/);
  await expectError({ jwt: await sign({ ...ssoClaims(), name: '' }), secret: SECRET, surface: 'sdk' }, /name is required/);
  const { email, ...noEmail } = ssoClaims();
  await expectError({ jwt: await sign(noEmail), secret: SECRET, surface: 'sso' }, /email is required/);
});

test('sdk: claim keys must be lower case', async () => {
  await expectError({ jwt: await sign({ ...ssoClaims(), Email: 'x@y.z' }), secret: SECRET, surface: 'sdk' }, /lower case/);
});

test('optional claim types are checked', async () => {
  const cases = [
    [{ tags: 'a,b' }, /tags must be an array of strings/],
    [{ tags: [1] }, /tags must be an array of strings/],
    [{ user_fields: '{"plan":"gold"}' }, /user_fields must be a JSON object/],
    [{ organization_id: 4.2 }, /organization_id must be an integer or a string/],
    [{ role: 'agent', custom_role_id: '7' }, /custom_role_id must be an integer/],
    [{ role: 'end_user', custom_role_id: 7 }, /custom_role_id needs role "agent"/],
    [{ role: 'superuser' }, /role must be one of/],
    [{ external_id: 12 }, /external_id must be a string/],
    [{ phone: '555-1234' }, /phone must be an E\.164/],
  ];
  for (const [extra, pattern] of cases) {
    await expectError({ jwt: await sign({ ...ssoClaims(), ...extra }), secret: SECRET, surface: 'sso' }, pattern);
  }
});

test('messaging: kid, scope, external_id, exp', async () => {
  const claims = () => ({
    scope: 'user', external_id: 'alice', name: 'Alice', email: 'alice@acme.com', exp: now() + 300, iat: now(), jti: randomUUID(),
  });
  const header = { alg: 'HS256', typ: 'JWT', kid: 'app_123' };
  await expectOk({ jwt: await sign(claims(), header), secret: SECRET, surface: 'messaging', kid: 'app_123' });
  await expectOk({ jwt: await sign(claims(), header), secret: SECRET, surface: 'messaging' });
  await expectError({ jwt: await sign(claims(), header), secret: SECRET, surface: 'messaging', kid: 'app_456' }, /kid must be "app_456"/);
  await expectError({ jwt: await sign(claims()), secret: SECRET, surface: 'messaging' }, /kid is required/);
  await expectError({ jwt: await sign({ ...claims(), scope: 'admin' }, header), secret: SECRET, surface: 'messaging' }, /scope must be "user"/);
  await expectError({ jwt: await sign({ ...claims(), external_id: 42 }, header), secret: SECRET, surface: 'messaging' }, /external_id must be a string/);
  await expectError({ jwt: await sign({ ...claims(), external_id: 'x'.repeat(256) }, header), secret: SECRET, surface: 'messaging' }, /at most 255/);
  const { exp, ...noExp } = claims();
  await expectError({ jwt: await sign(noExp, header), secret: SECRET, surface: 'messaging' }, /exp is required/);
  await expectError({ jwt: await sign({ ...claims(), exp: now() - 1 }, header), secret: SECRET, surface: 'messaging' }, /exp must be in the future/);
  // iat/jti are not required by Zendesk for messaging, unless asked for.
  const { iat, jti, ...bare } = claims();
  await expectOk({ jwt: await sign(bare, header), secret: SECRET, surface: 'messaging' });
  await expectError({
    jwt: await sign(bare, header), secret: SECRET, surface: 'messaging', require: ['jti'],
  }, /jti is required/);
});

test('chat: name, email, external_id, 120 s iat, exp <= iat + 420', async () => {
  const claims = () => ({
    name: 'Alice', email: 'alice@acme.com', external_id: 'alice', iat: now(), exp: now() + 420, jti: randomUUID(),
  });
  await expectOk({ jwt: await sign(claims()), secret: SECRET, surface: 'chat' });
  await expectError({ jwt: await sign({ ...claims(), exp: now() + 421 }), secret: SECRET, surface: 'chat' }, /at most 7 minutes/);
  await expectError({ jwt: await sign({ ...claims(), iat: now() - 150, exp: now() + 60 }), secret: SECRET, surface: 'chat' }, /within 120 s/);
  const { external_id, ...noExt } = claims();
  await expectError({ jwt: await sign(noExt), secret: SECRET, surface: 'chat' }, /external_id is required/);
});

test('malformed tokens', async () => {
  await expectError({ jwt: 'abc', secret: SECRET, surface: 'sso' }, /3 dot-separated parts/);
  await expectError({ jwt: 'a.b.c', secret: SECRET, surface: 'sso' }, /token_malformed/);
});

test('CLI: prints one JSON line and exits 0 / 1 / 2', async () => {
  const script = fileURLToPath(new URL('./verify-zendesk.mjs', import.meta.url));
  const run = (input) => spawnSync(process.execPath, [script], { input: JSON.stringify(input), encoding: 'utf8' });
  const good = run({ jwt: await sign(ssoClaims()), secret: SECRET, surface: 'sso' });
  assert.equal(good.status, 0, good.stdout + good.stderr);
  assert.equal(JSON.parse(good.stdout).ok, true);
  assert.equal(good.stdout.trim().split('\n').length, 1);
  const bad = run({ jwt: await sign(ssoClaims(), { alg: 'HS256' }), secret: SECRET, surface: 'sso' });
  assert.equal(bad.status, 1);
  assert.equal(JSON.parse(bad.stdout).ok, false);
  const unusable = run({ jwt: 'x', secret: SECRET, surface: 'web' });
  assert.equal(unusable.status, 2);
});

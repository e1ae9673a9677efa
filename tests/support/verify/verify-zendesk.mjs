#!/usr/bin/env node
// Independent checker for the JWTs zenbridge mints for Zendesk.
//
// It checks a token the way /work/shared/spec/zendesk.md says Zendesk does,
// written separately from the Rust code so that a shared misunderstanding
// does not pass silently. Signature checking uses `jose` from the reference
// OP's node_modules (tests/support/op), so one `npm ci` serves both.
//
// stdin:  {"jwt": "...", "secret": "...", "surface": "sso"|"sdk"|"messaging"|"chat",
//          "kid": "app_..." (optional; required value of the header kid),
//          "now": 1700000000 (optional; epoch seconds, default the clock),
//          "require": ["jti", ...] (optional; extra claims that must be present)}
// stdout: one JSON line
//          {"ok": true,  "header": {...}, "payload": {...}, "warnings": [...]}
//          {"ok": false, "errors": [...], "warnings": [...], "header"?, "payload"?}
// exit:   0 when ok, 1 when the token fails a check, 2 on unusable input.
//
// Rules per surface (zendesk.md):
//   all        HS256 with the secret's raw UTF-8 bytes; header alg "HS256" AND typ "JWT";
//              header kid equal to the given kid (when one is given); claim
//              types of the optional claims (tags, user_fields, organization_id,
//              custom_role_id, role, locale, phone, external_id, ...).
//   sso, sdk   iat (integer seconds, within 180 s of now), jti (non-empty string),
//              email, name required and non-empty. sdk: claim keys in lower case.
//              sso: exp is "not supported (unconfirmed)" -> a warning if present.
//   messaging  header kid required; scope == "user"; external_id a string of at
//              most 255 characters; exp required, in the future. iat/jti are
//              not required by Zendesk; when present they are checked as above.
//   chat       name, email, external_id required; iat within 120 s of now;
//              exp required, in the future, and at most iat + 420.

import { createRequire } from 'node:module';
import { realpathSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const SURFACES = new Set(['sso', 'sdk', 'messaging', 'chat']);

async function loadJose() {
  const require = createRequire(new URL('../op/package.json', import.meta.url));
  let path;
  try {
    path = require.resolve('jose');
  } catch {
    throw new Error('jose not found: run `npm ci` in tests/support/op (scripts/test does it)');
  }
  return import(pathToFileURL(path).href);
}

function b64urlJson(segment, what) {
  if (!/^[A-Za-z0-9_-]*$/.test(segment)) throw new Error(`${what} is not base64url`);
  const value = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new Error(`${what} is not a JSON object`);
  }
  return value;
}

const isNonEmptyString = (v) => typeof v === 'string' && v.trim() !== '';

export async function verify(input) {
  const errors = [];
  const warnings = [];
  const {
    jwt, secret, surface, kid,
  } = input;
  const now = input.now ?? Math.floor(Date.now() / 1000);
  const extraRequired = input.require ?? [];

  if (typeof jwt !== 'string') throw new TypeError('input.jwt must be a string');
  if (typeof secret !== 'string') throw new TypeError('input.secret must be a string');
  if (!SURFACES.has(surface)) throw new TypeError(`input.surface must be one of ${[...SURFACES].join(', ')}`);

  // --- structure -----------------------------------------------------------
  const parts = jwt.split('.');
  if (parts.length !== 3) {
    return { ok: false, errors: [`token must have 3 dot-separated parts, has ${parts.length}`], warnings };
  }
  let header;
  let payload;
  try {
    header = b64urlJson(parts[0], 'header');
    payload = b64urlJson(parts[1], 'payload');
  } catch (e) {
    return { ok: false, errors: [`token_malformed: ${e.message}`], warnings };
  }

  // --- header --------------------------------------------------------------
  if (header.alg !== 'HS256') errors.push(`header alg must be "HS256", is ${JSON.stringify(header.alg)}`);
  if (header.typ !== 'JWT') errors.push(`header typ must be "JWT", is ${JSON.stringify(header.typ)}`);
  if (kid !== undefined && kid !== null) {
    if (header.kid !== kid) errors.push(`header kid must be ${JSON.stringify(kid)}, is ${JSON.stringify(header.kid)}`);
  } else if (surface === 'messaging' && !isNonEmptyString(header.kid)) {
    errors.push(`header kid is required for messaging, is ${JSON.stringify(header.kid)}`);
  }

  // --- signature (raw UTF-8 secret, never base64-decoded) -------------------
  const jose = await loadJose();
  try {
    await jose.compactVerify(jwt, new TextEncoder().encode(secret), { algorithms: ['HS256'] });
  } catch (e) {
    errors.push(`signature invalid with the given secret (${e.code ?? e.name}: ${e.message})`);
  }

  // --- time ----------------------------------------------------------------
  const iatWindow = surface === 'chat' ? 120 : 180;
  const iatRequired = surface !== 'messaging';
  if ('iat' in payload || iatRequired) {
    const { iat } = payload;
    if (!Number.isInteger(iat)) {
      errors.push(`iat must be an integer number of seconds, is ${JSON.stringify(iat)}`);
    } else if (Math.abs(now - iat) > iatWindow) {
      errors.push(`iat must be within ${iatWindow} s of now (${now}), is ${iat} (${iat - now} s off)`);
    }
  }
  const jtiRequired = surface === 'sso' || surface === 'sdk';
  if ('jti' in payload || jtiRequired) {
    if (!isNonEmptyString(payload.jti)) errors.push(`jti must be a non-empty string, is ${JSON.stringify(payload.jti)}`);
  }
  if (surface === 'messaging' || surface === 'chat') {
    const { exp } = payload;
    if (!Number.isInteger(exp)) {
      errors.push(`exp is required for ${surface} and must be an integer, is ${JSON.stringify(exp)}`);
    } else {
      if (exp <= now) errors.push(`exp must be in the future, is ${exp} (${now - exp} s ago)`);
      if (Number.isInteger(payload.iat) && exp <= payload.iat) errors.push(`exp (${exp}) must be after iat (${payload.iat})`);
      if (surface === 'chat' && Number.isInteger(payload.iat) && exp > payload.iat + 420) {
        errors.push(`exp must be at most 7 minutes (420 s) after iat, is ${exp - payload.iat} s after`);
      }
    }
  } else if ('exp' in payload) {
    if (!Number.isInteger(payload.exp)) {
      errors.push(`exp must be an integer, is ${JSON.stringify(payload.exp)}`);
    } else if (payload.exp <= now) {
      errors.push(`exp is in the past (${payload.exp})`);
    }
    if (surface === 'sso') warnings.push('exp is not documented as supported in JWT SSO (unconfirmed)');
  }

  // --- required claims -----------------------------------------------------
  const required = {
    sso: ['email', 'name'],
    sdk: ['email', 'name'],
    messaging: ['external_id'],
    chat: ['name', 'email', 'external_id'],
  }[surface];
  for (const claim of [...required, ...extraRequired]) {
    const v = payload[claim];
    const empty = v === undefined || v === null || (typeof v === 'string' && v.trim() === '');
    if (empty) errors.push(`${claim} is required for ${surface} and must be non-empty, is ${JSON.stringify(v)}`);
  }
  if (surface === 'messaging' && payload.scope !== 'user') {
    errors.push(`scope must be "user", is ${JSON.stringify(payload.scope)}`);
  }
  if (surface === 'sdk') {
    for (const key of Object.keys(payload)) {
      if (key !== key.toLowerCase()) errors.push(`claim keys must be lower case for sdk: ${key}`);
    }
  }

  // --- types of the claims that are present ---------------------------------
  const typeError = (claim, want) => errors.push(`${claim} must be ${want}, is ${JSON.stringify(payload[claim])}`);
  const has = (claim) => claim in payload;

  if (has('email') && payload.email !== null) {
    if (typeof payload.email !== 'string') typeError('email', 'a string');
    else if (payload.email !== '' && !/^[^@\s]+@[^@\s]+$/.test(payload.email)) typeError('email', 'an email address');
  }
  if (has('name') && payload.name !== null && typeof payload.name !== 'string') typeError('name', 'a string');
  if (has('external_id') && payload.external_id !== null) {
    if (typeof payload.external_id !== 'string') typeError('external_id', 'a string');
    else if ([...payload.external_id].length > 255) errors.push(`external_id must be at most 255 characters, has ${[...payload.external_id].length}`);
  }
  if (has('email_verified') && typeof payload.email_verified !== 'boolean') typeError('email_verified', 'a boolean');
  for (const claim of ['organization', 'organizations', 'organization_ids', 'remote_photo_url', 'phone']) {
    if (has(claim) && typeof payload[claim] !== 'string') typeError(claim, 'a string');
  }
  if (has('organization_id') && !Number.isInteger(payload.organization_id) && typeof payload.organization_id !== 'string') {
    typeError('organization_id', 'an integer or a string');
  }
  if (has('tags') && !(Array.isArray(payload.tags) && payload.tags.every((t) => typeof t === 'string'))) {
    typeError('tags', 'an array of strings');
  }
  if (has('user_fields') && payload.user_fields !== null) {
    const uf = payload.user_fields;
    if (typeof uf !== 'object' || Array.isArray(uf)) typeError('user_fields', 'a JSON object (not a JSON-encoded string)');
  }
  if (has('custom_role_id')) {
    if (!Number.isInteger(payload.custom_role_id)) typeError('custom_role_id', 'an integer');
    if (payload.role !== 'agent') errors.push(`custom_role_id needs role "agent", role is ${JSON.stringify(payload.role)}`);
  }
  if (has('role')) {
    if (['user', 'end-user'].includes(payload.role)) {
      warnings.push(`role ${JSON.stringify(payload.role)} is only in older docs; use "end_user"`);
    } else if (!['end_user', 'agent', 'admin'].includes(payload.role)) {
      typeError('role', 'one of "end_user", "agent", "admin"');
    }
  }
  for (const claim of ['locale', 'locale_id']) {
    if (has(claim) && !Number.isInteger(payload[claim])) typeError(claim, 'an integer locale id');
  }
  if (typeof payload.phone === 'string' && !/^\+[1-9][0-9]{1,14}$/.test(payload.phone)) {
    typeError('phone', 'an E.164 number (+ and up to 15 digits)');
  }
  if (typeof payload.remote_photo_url === 'string' && !/^https?:\/\/\S+$/.test(payload.remote_photo_url)) {
    typeError('remote_photo_url', 'an http(s) URL');
  }

  return errors.length
    ? {
      ok: false, errors, warnings, header, payload,
    }
    : {
      ok: true, header, payload, warnings,
    };
}

async function main() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  let result;
  try {
    result = await verify(JSON.parse(Buffer.concat(chunks).toString('utf8')));
  } catch (e) {
    process.stdout.write(`${JSON.stringify({ ok: false, errors: [`bad input: ${e.message}`] })}\n`);
    process.exit(2);
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exitCode = result.ok ? 0 : 1;
}

// Run as a script (not when imported by the self-test). Node gives
// import.meta.url with symlinks resolved, so compare real paths.
const isMain = process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  await main();
}

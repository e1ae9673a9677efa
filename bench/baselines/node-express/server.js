'use strict';
// Baseline: the Zendesk Support SDK JWT endpoint written the way the Express,
// jsonwebtoken and jwks-rsa documentation shows it.
//
//   PORT=18080 JWKS_URL=http://127.0.0.1:18081/jwks.json ISSUER=http://127.0.0.1:18081 \
//   AUDIENCE=bench-client ZENDESK_SECRET=... node server.js
//
// POST /sdk/mobile/jwt   user_token=<RS256 ID token>  ->  200 {"jwt": "<HS256 Zendesk JWT>"}
//                                                        401 {"error": "invalid_token"}
//                                                        400 {"error": "invalid_request"}  (no user_token)
// GET  /readyz           200 once the worker listens
//
// Processes: Express's "Production best practices: performance and reliability"
// guide says to run the app in a cluster, one worker per CPU ("Run your app in a
// cluster"), with node's built-in `cluster` module or a process manager. A single
// process would leave one of this machine's two cores idle, which would make the
// baseline a straw man, so the primary forks os.availableParallelism() workers
// (override with WORKERS=1 to measure the single-process shape).
//
// Keys: jwks-rsa with its cache (cache: true, the default, 5 entries, 10 min) and
// its rate limit (rateLimit: true, 10 JWKS requests per minute) as its
// documentation shows; the key lookup is wired into jwt.verify through the
// `getKey` callback exactly as in jsonwebtoken's README. Each worker has its own
// cache, so each fetches the key set once.

const cluster = require('node:cluster');
const os = require('node:os');
const crypto = require('node:crypto');

const env = (name) => {
  const v = process.env[name];
  if (!v) {
    console.error(`missing environment variable ${name}`);
    process.exit(2);
  }
  return v;
};

const PORT = Number(env('PORT'));
const JWKS_URL = env('JWKS_URL');
const ISSUER = env('ISSUER');
const AUDIENCE = env('AUDIENCE');
const ZENDESK_SECRET = env('ZENDESK_SECRET');
const WORKERS = Number(process.env.WORKERS || os.availableParallelism());

if (cluster.isPrimary && WORKERS > 1) {
  let shuttingDown = false;
  for (let i = 0; i < WORKERS; i++) cluster.fork();
  cluster.on('exit', (worker, code, signal) => {
    if (!shuttingDown) {
      console.error(`worker ${worker.process.pid} died (${signal || code}), restarting`);
      cluster.fork();
    }
  });
  const stop = () => {
    shuttingDown = true;
    for (const id in cluster.workers) cluster.workers[id].kill('SIGTERM');
    setTimeout(() => process.exit(0), 2000).unref();
    cluster.on('exit', () => { if (Object.keys(cluster.workers).length === 0) process.exit(0); });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} else {
  const express = require('express');
  const jwt = require('jsonwebtoken');
  const jwksClient = require('jwks-rsa');

  const client = jwksClient({
    jwksUri: JWKS_URL,
    cache: true,
    cacheMaxEntries: 5,
    cacheMaxAge: 10 * 60 * 1000,
    rateLimit: true,
    jwksRequestsPerMinute: 10,
    timeout: 30000,
  });

  // From jsonwebtoken's README ("jwt.verify ... using a callback to obtain the key").
  function getKey(header, callback) {
    client.getSigningKey(header.kid, (err, key) => {
      if (err) return callback(err);
      callback(null, key.getPublicKey());
    });
  }

  const verifyOptions = { algorithms: ['RS256'], issuer: ISSUER, audience: AUDIENCE };

  // The secret as a KeyObject (jsonwebtoken's README: "secretOrPrivateKey is a string
  // (utf-8 encoded), buffer, object, or KeyObject"). Passed as a plain string,
  // jsonwebtoken 9 first tries crypto.createPrivateKey() on it and catches the
  // exception on every sign -- about 1 ms of CPU per token -- so a developer who
  // profiles once does this. The verify side is kept exactly as the READMEs show it
  // (jwks-rsa hands jsonwebtoken a PEM string, parsed again on each verify).
  const zendeskKey = crypto.createSecretKey(Buffer.from(ZENDESK_SECRET, 'utf8'));

  const app = express();
  app.disable('x-powered-by');
  app.use(express.urlencoded({ extended: false, limit: '16kb' }));

  app.get('/readyz', (req, res) => res.json({ status: 'ready' }));

  app.post('/sdk/mobile/jwt', (req, res) => {
    const userToken = req.body && req.body.user_token;
    if (typeof userToken !== 'string' || userToken === '') {
      return res.status(400).json({ error: 'invalid_request', error_description: 'user_token is required' });
    }
    jwt.verify(userToken, getKey, verifyOptions, (err, claims) => {
      if (err) {
        return res.status(401).json({ error: 'invalid_token' });
      }
      const { sub, email, name } = claims;
      if (!sub || !email || !name) {
        return res.status(401).json({ error: 'invalid_token', error_description: 'sub, email and name are required' });
      }
      // Zendesk SDK claims: iat (whole seconds), jti (never reused), email, name, external_id.
      // jsonwebtoken writes the header {"alg":"HS256","typ":"JWT"}.
      const zendeskJwt = jwt.sign(
        { iat: Math.floor(Date.now() / 1000), jti: crypto.randomUUID(), email, name, external_id: sub },
        zendeskKey,
        { algorithm: 'HS256' },
      );
      res.json({ jwt: zendeskJwt });
    });
  });

  app.use((req, res) => res.status(404).json({ error: 'not_found' }));
  // Express error handler: malformed bodies (body-parser) end up here.
  app.use((err, req, res, next) => {
    res.status(err.status && err.status < 500 ? err.status : 500).json({ error: err.status && err.status < 500 ? 'invalid_request' : 'server_error' });
  });

  const server = app.listen(PORT, '127.0.0.1');
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

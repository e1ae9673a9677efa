"""Baseline: the Zendesk Support SDK JWT endpoint on Starlette + PyJWT.

Run by ``start`` as ``uvicorn app:app --workers 2`` (uvicorn[standard]: uvloop +
httptools, which is what uvicorn's documentation recommends installing), one
worker process per CPU, access log off (no baseline logs per request).

    PORT=18080 JWKS_URL=http://127.0.0.1:18081/jwks.json ISSUER=http://127.0.0.1:18081 \
    AUDIENCE=bench-client ZENDESK_SECRET=... ./start

POST /sdk/mobile/jwt   user_token=<RS256 ID token>  ->  200 {"jwt": "<HS256 Zendesk JWT>"}
                                                       401 {"error": "invalid_token"}
                                                       400 {"error": "invalid_request"}  (no user_token)
GET  /readyz           200

Keys: PyJWKClient as in PyJWT's documentation ("Retrieve RSA signing keys from
a JWKS endpoint"), with both of its caches on: the JWK set cache
(cache_jwk_set, 300 s lifespan) and the per-kid signing-key LRU cache
(cache_keys). After the first fetch in each worker, the key lookup is an
in-memory hit, so it is called directly from the async endpoint.
"""

import os
import time
import uuid

import jwt
from jwt import PyJWKClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise SystemExit(f"missing environment variable {name}")
    return value


JWKS_URL = env("JWKS_URL")
ISSUER = env("ISSUER")
AUDIENCE = env("AUDIENCE")
ZENDESK_SECRET = env("ZENDESK_SECRET")

jwks_client = PyJWKClient(JWKS_URL, cache_jwk_set=True, lifespan=300, cache_keys=True, max_cached_keys=16)


async def sdk_jwt(request: Request) -> JSONResponse:
    form = await request.form()
    user_token = form.get("user_token")
    if not isinstance(user_token, str) or not user_token:
        return JSONResponse({"error": "invalid_request", "error_description": "user_token is required"}, status_code=400)
    try:
        signing_key = jwks_client.get_signing_key_from_jwt(user_token)
        claims = jwt.decode(
            user_token,
            signing_key.key,
            algorithms=["RS256"],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
        )
    except jwt.PyJWTError:
        return JSONResponse({"error": "invalid_token"}, status_code=401)

    sub, email, name = claims.get("sub"), claims.get("email"), claims.get("name")
    if not (sub and email and name):
        return JSONResponse({"error": "invalid_token", "error_description": "sub, email and name are required"}, status_code=401)

    # Zendesk SDK claims: iat (whole seconds), jti (never reused), email, name, external_id.
    # PyJWT writes the header {"alg": "HS256", "typ": "JWT"}.
    zendesk_jwt = jwt.encode(
        {"iat": int(time.time()), "jti": str(uuid.uuid4()), "email": email, "name": name, "external_id": sub},
        ZENDESK_SECRET,
        algorithm="HS256",
    )
    return JSONResponse({"jwt": zendesk_jwt})


async def readyz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ready"})


app = Starlette(
    routes=[
        Route("/sdk/mobile/jwt", sdk_jwt, methods=["POST"]),
        Route("/readyz", readyz, methods=["GET"]),
    ]
)

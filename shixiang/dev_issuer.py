"""The development identity issuer: what ``make dev`` runs in place of a real identity provider (统一身份认证,
Keycloak), so that the development suite verifies tokens the way production does — ES256 against a JWKS found
through an OpenID discovery document.

It serves, on 127.0.0.1 only:

- ``GET /.well-known/openid-configuration``: the discovery document (issuer, ``jwks_uri``, ``token_endpoint``);
- ``GET /jwks.json``: its public key;
- ``POST /token`` (development only: it signs whatever it is asked, which no real provider does): a JSON body
  ``{"sub", "roles", "regions", "ttl"}`` answers ``{"access_token", "token_type", "expires_in"}``.

Its key (ES256, P-256) is generated at the first start and kept in ``<root>/issuer/signing-key.pem`` (mode 0600),
so tokens stay valid across restarts of ``make dev``; ``make dev --fresh`` (or deleting the file) makes a new one.
It is not for production: anyone who can reach it can mint any role for any region (docs/identity.md)."""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from shared.auth import mint_token, token_claims
from shared.identity import DISCOVERY_PATH
from shared.settings import DEVELOPMENT_JWT_SECRET

ALGORITHM = "ES256"
AUDIENCE = "shixiang"  # what the development suite's services expect (SHIXIANG_AUTH_AUDIENCE)
KEY_FILE = Path("issuer") / "signing-key.pem"
JWKS_PATH = "/jwks.json"
TOKEN_PATH = "/token"  # noqa: S105 — a URL path, not a password
DEFAULT_TTL_S = 12 * 3600
MAX_TTL_S = 7 * 24 * 3600


def load_or_create_key(root: Path) -> ec.EllipticCurvePrivateKey:
    """The issuer's signing key, generated (and written with mode 0600) when ``root`` has none yet."""
    path = Path(root) / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        # O_EXCL: two processes starting at once (the suite and the issuer) keep the first one's key
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as out:
                out.write(pem)
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path} is not an EC private key")
    return loaded


def public_jwk(key: ec.EllipticCurvePrivateKey) -> dict[str, str]:
    """The public key as a JWK, its ``kid`` the RFC 7638 thumbprint (a new key is a new kid)."""
    jwk: dict[str, str] = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    members = {name: jwk[name] for name in ("crv", "kty", "x", "y")}
    digest = hashlib.sha256(json.dumps(members, separators=(",", ":"), sort_keys=True).encode()).digest()
    kid = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return {**members, "kid": kid, "use": "sig", "alg": ALGORITHM}


class DevIssuer:
    """Signs the development suite's tokens: ``url`` is its issuer (``iss``), ``root`` where its key is kept."""

    def __init__(self, root: Path, url: str) -> None:
        self.root, self.url = Path(root), url.rstrip("/")
        self._key: ec.EllipticCurvePrivateKey | None = None

    @property
    def key(self) -> ec.EllipticCurvePrivateKey:
        if self._key is None:
            self._key = load_or_create_key(self.root)
        return self._key

    def jwks(self) -> dict[str, Any]:
        return {"keys": [public_jwk(self.key)]}

    def discovery(self) -> dict[str, Any]:
        return {"issuer": self.url, "jwks_uri": self.url + JWKS_PATH, "token_endpoint": self.url + TOKEN_PATH,
                "id_token_signing_alg_values_supported": [ALGORITHM], "response_types_supported": ["token"],
                "subject_types_supported": ["public"]}

    def mint(self, *, subject: str, roles: list[str], regions: list[str], ttl_s: int = DEFAULT_TTL_S,
             now: float | None = None) -> str:
        """A token as the services expect one from any provider (``ValueError`` for roles or regions that are not
        the suite's)."""
        claims = token_claims(subject=subject, roles=roles, regions=regions, issuer=self.url, ttl_s=ttl_s, now=now)
        return jwt.encode({**claims, "aud": AUDIENCE}, self.key, algorithm=ALGORITHM,
                          headers={"kid": public_jwk(self.key)["kid"]})


def token_request(body: Any) -> tuple[str, list[str], list[str], int]:
    """``POST /token``'s body as (sub, roles, regions, ttl); ``ValueError`` in Chinese for anything else."""
    if not isinstance(body, dict):
        raise ValueError("请求体应为 JSON 对象 {sub, roles, regions, ttl}")
    subject, roles, regions, ttl = body.get("sub"), body.get("roles"), body.get("regions"), body.get("ttl",
                                                                                                   DEFAULT_TTL_S)
    if not isinstance(subject, str) or not subject.strip():
        raise ValueError("sub 应为非空字符串")
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise ValueError("roles 应为字符串列表")
    if not isinstance(regions, list) or not all(isinstance(r, str) for r in regions):
        raise ValueError("regions 应为字符串列表")
    if not isinstance(ttl, int) or isinstance(ttl, bool) or not 0 < ttl <= MAX_TTL_S:
        raise ValueError(f"ttl 应为 1 至 {MAX_TTL_S} 秒")
    return subject, roles, regions, ttl


def create_app(issuer: DevIssuer) -> Any:
    """The issuer's HTTP app (Starlette: three routes need no more)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def discovery(_: Request) -> JSONResponse:
        return JSONResponse(issuer.discovery())

    async def jwks(_: Request) -> JSONResponse:
        return JSONResponse(issuer.jwks())

    async def token(request: Request) -> JSONResponse:
        try:
            subject, roles, regions, ttl = token_request(await request.json())
            minted = issuer.mint(subject=subject, roles=roles, regions=regions, ttl_s=ttl)
        except ValueError as exc:  # not JSON, or claims that are not the suite's
            return JSONResponse({"code": "INVALID_TOKEN_REQUEST", "message": f"无法签发令牌：{exc}"}, status_code=400)
        return JSONResponse({"access_token": minted, "token_type": "Bearer", "expires_in": ttl})

    return Starlette(routes=[Route(DISCOVERY_PATH, discovery), Route(JWKS_PATH, jwks),
                             Route(TOKEN_PATH, token, methods=["POST"])])


def request_token(issuer_url: str, *, subject: str, roles: list[str], regions: list[str],
                  ttl_s: int = DEFAULT_TTL_S) -> str:
    """A token from a running development issuer's token endpoint (``shixiang token``, ``shixiang demo``);
    ``ValueError`` with the issuer's message when it refuses, ``ConnectionError`` when it does not answer."""
    import httpx

    try:
        response = httpx.post(issuer_url.rstrip("/") + TOKEN_PATH, timeout=10,
                              json={"sub": subject, "roles": roles, "regions": regions, "ttl": ttl_s})
    except httpx.HTTPError as exc:
        raise ConnectionError(f"开发用身份认证服务 {issuer_url} 无法访问（{type(exc).__name__}）：make dev 是否在运行？"
                              "（the development issuer is not answering: is make dev running?）") from exc
    if response.status_code != 200:
        raise ValueError(response.json().get("message", response.text))
    return str(response.json()["access_token"])


class Minter(Protocol):
    def __call__(self, subject: str, roles: list[str], regions: list[str], ttl_s: int = DEFAULT_TTL_S) -> str: ...


def minter_for(env: Mapping[str, str]) -> Minter:
    """How the tools (``shixiang token``, ``demo``, ``import``) get a token the services of a development process
    with environment ``env`` (the dev suite's manifest) accept: from its issuer's token endpoint when it has one
    (``make dev``), else HS256 with its SHIXIANG_JWT_SECRET (a process started without an issuer)."""
    issuer = env.get("SHIXIANG_AUTH_ISSUER")
    if issuer:
        def ask(subject: str, roles: list[str], regions: list[str], ttl_s: int = DEFAULT_TTL_S) -> str:
            return request_token(issuer, subject=subject, roles=roles, regions=regions, ttl_s=ttl_s)
        return ask
    secret = env.get("SHIXIANG_JWT_SECRET", DEVELOPMENT_JWT_SECRET)

    def sign(subject: str, roles: list[str], regions: list[str], ttl_s: int = DEFAULT_TTL_S) -> str:
        return mint_token(secret, subject=subject, roles=roles, regions=regions, ttl_s=ttl_s)
    return sign


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m shixiang.dev_issuer", description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, required=True, help="where the key is kept (the suite's .dev)")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    issuer = DevIssuer(args.root, f"http://127.0.0.1:{args.port}")
    _ = issuer.key  # generated or loaded before answering: a bad key file stops the start, not the first request
    uvicorn.run(create_app(issuer), host="127.0.0.1", port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""A second identity provider for tests, independent of the development issuer (shixiang/dev_issuer.py): its own RSA
keys (RS256), generated here, and a Keycloak-shaped layout (``/realms/<realm>/…``) served over HTTP on 127.0.0.1 by
the standard library's server in a thread. Tests add and remove keys to rotate them, and count the JWKS fetches."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class SecondIssuer:
    def __init__(self, realm: str = "province", audience: str = "shixiang-suite") -> None:
        self.realm, self.audience = realm, audience
        self.private: dict[str, rsa.RSAPrivateKey] = {}
        self.published: list[str] = []
        self.jwks_fetches = 0
        self.current_kid = self.add_key()
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path
                if path == f"/realms/{issuer.realm}/.well-known/openid-configuration":
                    body: Any = {"issuer": issuer.url, "jwks_uri": f"{issuer.url}/protocol/openid-connect/certs"}
                elif path == f"/realms/{issuer.realm}/protocol/openid-connect/certs":
                    issuer.jwks_fetches += 1
                    body = issuer.jwks()
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: Any) -> None:  # quiet
                return

        # bound now (the URL is the issuer every token names); answering only once entered
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/realms/{realm}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> SecondIssuer:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        if self.thread.is_alive():
            self.server.shutdown()
        self.server.server_close()

    def __del__(self) -> None:  # a stranger that only signs tokens is never entered: release its socket
        self.server.server_close()

    # ---- keys ----------------------------------------------------------------------------------------------------
    def add_key(self) -> str:
        kid = uuid.uuid4().hex[:16]
        self.private[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.published.append(kid)
        return kid

    def remove_key(self, kid: str) -> None:
        self.published.remove(kid)

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid in self.published:
            jwk = RSAAlgorithm.to_jwk(self.private[kid].public_key(), as_dict=True)
            keys.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": keys}

    def public_pem(self, kid: str) -> bytes:
        return self.private[kid].public_key().public_bytes(serialization.Encoding.PEM,
                                                           serialization.PublicFormat.SubjectPublicKeyInfo)

    # ---- tokens --------------------------------------------------------------------------------------------------
    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {"iss": self.url, "aud": self.audience, "sub": "zhang.san", "iat": now, "exp": now + 600,
                  "roles": ["reviewer"], "regions": ["4401"]}
        return {k: v for k, v in {**claims, **overrides}.items() if v is not None}

    def token(self, kid: str | None = None, **overrides: Any) -> str:
        kid = kid or self.current_kid
        return jwt.encode(self.claims(**overrides), self.private[kid], algorithm="RS256", headers={"kid": kid})

    def hs256_with_public_key(self, **overrides: Any) -> str:
        """The `alg` confusion attack: HS256 "signed" with the provider's public key (PEM) as the HMAC secret, as a
        verifier that trusted the header's alg would check it. Built by hand: PyJWT refuses to make one."""
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": self.current_kid}).encode())
        payload = _b64(json.dumps(self.claims(**overrides)).encode())
        signature = hmac.new(self.public_pem(self.current_kid), f"{header}.{payload}".encode(), hashlib.sha256)
        return f"{header}.{payload}.{_b64(signature.digest())}"

    def unsigned(self, **overrides: Any) -> str:
        """``alg: none``: no signature at all."""
        header = _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": self.current_kid}).encode())
        return f"{header}.{_b64(json.dumps(self.claims(**overrides)).encode())}."

"""OpenID Connect login (authorization code + PKCE), compatible with ProConnect.

The browser-side state of a login in progress (state, nonce, PKCE verifier, where to go next)
travels in a short-lived cookie signed with the secret key, so no server memory is needed and
any process can finish a login that another started. The callback refuses a wrong `state`
(CSRF on the login) and an ID token whose `nonce`, issuer, audience, signature or expiry is
wrong (replay, token substitution). Claims are read from the verified ID token and then from
the userinfo endpoint, which ProConnect may answer as JSON or as a signed JWT.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from authlib.integrations.httpx_client import OAuth2Client, OAuthError
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from app.settings import Settings

# authlib's OAuth2Client runs on httpx2 when that is installed (else on httpx), and so raises
# httpx2's errors, which are not httpx's.
try:
    import httpx2
except ImportError:  # pragma: no cover - depends on what is installed
    _HTTP_ERRORS: tuple[type[Exception], ...] = (httpx.HTTPError,)
else:
    _HTTP_ERRORS = (httpx.HTTPError, httpx2.HTTPError)

STATE_COOKIE = "arobase_oidc"
STATE_MAX_AGE = 600
_DISCOVERY_TTL = 3600.0
_TIMEOUT = 10.0


class OidcError(Exception):
    """The login cannot be completed; the message is safe to show."""


@dataclass(frozen=True)
class Identity:
    issuer: str
    subject: str
    email: str
    given_name: str
    usual_name: str
    siret: str | None
    id_token: str

    @property
    def name(self) -> str:
        full = f"{self.given_name} {self.usual_name}".strip()
        return full or self.email


class OidcClient:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._metadata: dict[str, Any] | None = None
        self._fetched_at = 0.0

    def metadata(self) -> dict[str, Any]:
        if self._metadata is None or time.monotonic() - self._fetched_at > _DISCOVERY_TTL:
            url = self.settings.oidc_issuer.rstrip("/") + "/.well-known/openid-configuration"
            try:
                response = httpx.get(url, timeout=_TIMEOUT)
                response.raise_for_status()
                self._metadata = response.json()
            except (httpx.HTTPError, ValueError) as exc:
                raise OidcError("Le fournisseur d'identité ne répond pas.") from exc
            self._fetched_at = time.monotonic()
        return self._metadata

    def _client(self) -> OAuth2Client:
        return OAuth2Client(
            client_id=self.settings.oidc_client_id,
            client_secret=self.settings.oidc_client_secret,
            scope=self.settings.oidc_scopes,
            redirect_uri=self.settings.oidc_redirect_uri,
            code_challenge_method="S256",
            timeout=_TIMEOUT,
        )

    def start(self, next_url: str) -> tuple[str, str]:
        """(URL to send the browser to, value of the state cookie)."""
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        verifier = secrets.token_urlsafe(64)
        with self._client() as client:
            url, _ = client.create_authorization_url(
                self.metadata()["authorization_endpoint"],
                state=state,
                nonce=nonce,
                code_verifier=verifier,
                acr_values="eidas1",
            )
        cookie = self._sign(
            {
                "state": state,
                "nonce": nonce,
                "verifier": verifier,
                "next": next_url,
                "exp": int(time.time()) + STATE_MAX_AGE,
            }
        )
        return url, cookie

    def finish(self, params: dict[str, str], cookie: str | None) -> tuple[Identity, str]:
        """Check the callback, redeem the code, verify the tokens: (identity, next URL)."""
        if "error" in params:
            raise OidcError("La connexion a été annulée ou refusée par le fournisseur d'identité.")
        pending = self._unsign(cookie)
        if not params.get("state") or not hmac.compare_digest(params["state"], pending["state"]):
            raise OidcError(
                "La réponse du fournisseur d'identité ne correspond à aucune connexion "
                "en cours (paramètre state). Recommencez."
            )
        meta = self.metadata()
        try:
            with self._client() as client:
                token = client.fetch_token(
                    meta["token_endpoint"],
                    code=params.get("code", ""),
                    code_verifier=pending["verifier"],
                    grant_type="authorization_code",
                )
                claims = self._verify_id_token(str(token.get("id_token", "")), pending["nonce"])
                info = self._userinfo(client, meta, token)
        except (*_HTTP_ERRORS, OAuthError, ValueError, KeyError) as exc:
            # OAuthError: an error answer of the token endpoint (e.g. `invalid_grant` for a
            # code already redeemed, or a PKCE verifier that does not match).
            raise OidcError("Le fournisseur d'identité a refusé la connexion.") from exc
        merged = {**claims, **{k: v for k, v in info.items() if v}}
        if info.get("sub") and info["sub"] != claims["sub"]:
            raise OidcError("Les informations du fournisseur d'identité sont incohérentes.")
        email = str(merged.get("email") or "").strip().lower()
        if not email:
            raise OidcError("Le fournisseur d'identité n'a pas transmis d'adresse e-mail.")
        identity = Identity(
            issuer=str(claims["iss"]),
            subject=str(merged.get("uid") or claims["sub"]),
            email=email,
            given_name=str(merged.get("given_name") or ""),
            usual_name=str(merged.get("usual_name") or merged.get("family_name") or ""),
            siret=str(merged["siret"]) if merged.get("siret") else None,
            id_token=str(token["id_token"]),
        )
        return identity, str(pending["next"])

    def _keys(self) -> KeySet:
        response = httpx.get(self.metadata()["jwks_uri"], timeout=_TIMEOUT)
        response.raise_for_status()
        return KeySet.import_key_set(response.json())

    def _verify_id_token(self, id_token: str, nonce: str) -> dict[str, Any]:
        try:
            token = jwt.decode(id_token, self._keys())
            registry = jwt.JWTClaimsRegistry(
                leeway=60,
                iss={"essential": True, "value": self.metadata()["issuer"]},
                aud={"essential": True, "value": self.settings.oidc_client_id},
                sub={"essential": True},
                exp={"essential": True},
                nonce={"essential": True, "value": nonce},
            )
            registry.validate(token.claims)
        except (JoseError, ValueError) as exc:
            raise OidcError(
                "Le jeton d'identité reçu n'est pas valable (signature, émetteur, "
                "destinataire, nonce ou expiration)."
            ) from exc
        return dict(token.claims)

    def _userinfo(
        self, client: OAuth2Client, meta: dict[str, Any], token: dict[str, Any]
    ) -> dict[str, Any]:
        endpoint = meta.get("userinfo_endpoint")
        if not endpoint:
            return {}
        response = client.get(endpoint)
        response.raise_for_status()
        if response.headers.get("content-type", "").startswith("application/jwt"):
            try:
                return dict(jwt.decode(response.text, self._keys()).claims)
            except JoseError as exc:
                raise OidcError("La réponse userinfo n'est pas correctement signée.") from exc
        data: dict[str, Any] = response.json()
        return data

    def logout_url(self, id_token: str, after: str) -> str | None:
        endpoint = self.metadata().get("end_session_endpoint")
        if not endpoint:
            return None
        query = urlencode(
            {
                "id_token_hint": id_token,
                "post_logout_redirect_uri": after,
                "state": secrets.token_urlsafe(16),
            }
        )
        return f"{endpoint}?{query}"

    # The state cookie: base64url(JSON) "." HMAC-SHA256 under the secret key.
    def _sign(self, payload: dict[str, Any]) -> str:
        body = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")
        return f"{body}.{self._mac(body)}"

    def _mac(self, body: str) -> str:
        key = hashlib.sha256(b"oidc-state:" + self.settings.secret_key.encode()).digest()
        return hmac.new(key, body.encode(), "sha256").hexdigest()

    def _unsign(self, cookie: str | None) -> dict[str, Any]:
        expired = OidcError(
            "La connexion a expiré ou a été ouverte dans un autre navigateur. Recommencez."
        )
        if not cookie or "." not in cookie:
            raise expired
        body, mac = cookie.rsplit(".", 1)
        if not hmac.compare_digest(mac, self._mac(body)):
            raise expired
        payload: dict[str, Any] = json.loads(
            base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        )
        if payload.get("exp", 0) < time.time():
            raise expired
        return payload

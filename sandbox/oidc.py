"""OpenID Connect providers of the sandbox, built on Authlib's server side.

`/wk` stands for login.gov.pl behind an OIDC broker: residents, eIDAS-named claims, LoA
substantial. `/office-idp` stands for the office's own provider (Entra ID, Keycloak …):
clerks with a unit and roles. Both are real providers: discovery, JWKS, signed ID tokens
with nonce, authorization code with PKCE, userinfo and RP-initiated logout.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6750 import BearerTokenValidator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from flask import Blueprint, Flask, abort, jsonify, redirect, render_template, request, session
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey

LOA = {level: f"http://eidas.europa.eu/LoA/{level}" for level in ("low", "substantial", "high")}
LOA_SUBSTANTIAL = LOA["substantial"]


@dataclass
class Client:
    client_id: str
    client_secret: str
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str]
    scope: str = "openid profile"

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope: str) -> str:
        allowed = set(self.scope.split())
        return " ".join(s for s in (scope or "").split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass
class AuthorizationCode:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user_id: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int
    acr: str | None
    expires_at: float

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> str | None:
        return self.acr

    def get_amr(self) -> list[str] | None:
        return None


@dataclass
class Token:
    client_id: str
    user_id: str
    scope: str
    access_token: str
    expires_at: float
    revoked: bool = False

    def check_client(self, client: Client) -> bool:
        return client.client_id == self.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return int(self.expires_at - time.time())

    def is_expired(self) -> bool:
        return time.time() >= self.expires_at

    def is_revoked(self) -> bool:
        return self.revoked


@dataclass
class Account:
    id: str
    label: str
    detail: str
    claims: dict[str, Any]
    acr: str | None = None  # the level this account signs in with (e-dowód: high)


@dataclass
class Provider:
    """One OpenID provider: its accounts, clients, keys and in-memory state."""

    name: str
    title: str
    prefix: str
    accounts: list[Account]
    clients: dict[str, Client]
    acr: str | None = None
    keys: list[RSAKey] = field(default_factory=list)
    codes: dict[str, AuthorizationCode] = field(default_factory=dict)
    tokens: dict[str, Token] = field(default_factory=dict)
    issuer: str = ""
    # Test hook: how the next ID token is spoiled, as a relying party must be ready for.
    test_mode: str | None = None

    def account(self, account_id: str) -> Account | None:
        return next((a for a in self.accounts if a.id == account_id), None)

    def rotate_key(self) -> RSAKey:
        """A new signing key; the old ones stay in the JWKS so tokens already issued still verify."""
        key = RSAKey.generate_key(2048, parameters={"kid": f"{self.name}-{int(time.time() * 1000)}",
                                                    "use": "sig", "alg": "RS256"})
        self.keys.insert(0, key)
        del self.keys[3:]
        return key


def build(app: Flask, provider: Provider, public_url: str, session_key: str) -> Blueprint:
    """Register the provider's endpoints under its prefix and return the blueprint."""
    provider.issuer = f"{public_url.rstrip('/')}{provider.prefix}"
    if not provider.keys:
        provider.rotate_key()

    class CodeGrant(grants.AuthorizationCodeGrant):
        TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

        def save_authorization_code(self, code: str, req: Any) -> None:
            data = req.payload.data
            provider.codes[code] = AuthorizationCode(
                code=code, client_id=req.client.client_id, redirect_uri=req.payload.redirect_uri,
                scope=req.scope, user_id=req.user.id, nonce=data.get("nonce"),
                code_challenge=data.get("code_challenge"), code_challenge_method=data.get("code_challenge_method"),
                auth_time=int(time.time()), acr=req.user.acr or provider.acr, expires_at=time.time() + 60,
            )

        def query_authorization_code(self, code: str, client: Client) -> AuthorizationCode | None:
            item = provider.codes.get(code)
            if item and item.client_id == client.client_id and item.expires_at > time.time():
                return item
            return None

        def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
            provider.codes.pop(authorization_code.code, None)

        def authenticate_user(self, authorization_code: AuthorizationCode) -> Account | None:
            return provider.account(authorization_code.user_id)

    class Challenge(CodeChallenge):
        def get_authorization_code_challenge(self, authorization_code: AuthorizationCode) -> str | None:
            return authorization_code.code_challenge

        def get_authorization_code_challenge_method(self, authorization_code: AuthorizationCode) -> str | None:
            return authorization_code.code_challenge_method

    class IdToken(OpenIDCode):
        def exists_nonce(self, nonce: str, req: Any) -> bool:
            return any(c.nonce == nonce and c.client_id == req.payload.client_id for c in provider.codes.values())

        def resolve_client_private_key(self, client: Client) -> RSAKey:
            return provider.keys[0]

        def get_encode_header(self, client: Client) -> dict[str, str]:
            return {"alg": "RS256", "kid": provider.keys[0].kid or ""}

        def get_client_algorithm(self, client: Client) -> str:
            return "RS256"

        def get_client_claims(self, client: Client) -> dict[str, Any]:
            now = int(time.time())
            return {"iss": provider.issuer, "aud": [client.client_id], "iat": now, "exp": now + 300}

        def generate_user_info(self, user: Account, scope: str) -> UserInfo:
            return UserInfo(sub=user.id, **user.claims)

        def process_token(self, grant: Any, response: Any) -> Any:
            token = super().process_token(grant, response)
            mode, provider.test_mode = provider.test_mode, None
            if mode and token.get("id_token"):
                token["id_token"] = spoil(token["id_token"], mode, provider)
            return token

    def save_token(token: dict[str, Any], req: Any) -> None:
        provider.tokens[token["access_token"]] = Token(
            client_id=req.client.client_id, user_id=req.user.id, scope=token.get("scope", ""),
            access_token=token["access_token"], expires_at=time.time() + token.get("expires_in", 300),
        )

    server = AuthorizationServer()
    server.init_app(app, query_client=provider.clients.get, save_token=save_token)
    server.register_grant(CodeGrant, [IdToken(require_nonce=True), Challenge(required=True)])

    class Validator(BearerTokenValidator):
        def authenticate_token(self, token_string: str) -> Token | None:
            return provider.tokens.get(token_string)

    protect = ResourceProtector()
    protect.register_token_validator(Validator())

    bp = Blueprint(provider.name, __name__, url_prefix=provider.prefix)

    @bp.get("/.well-known/openid-configuration")
    def discovery() -> Any:
        base = provider.issuer
        claims = sorted({"sub", *(k for a in provider.accounts for k in a.claims)})
        return jsonify({
            "issuer": base,
            "authorization_endpoint": f"{base}/authorize",
            "token_endpoint": f"{base}/token",
            "userinfo_endpoint": f"{base}/userinfo",
            "jwks_uri": f"{base}/jwks",
            "end_session_endpoint": f"{base}/logout",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "scopes_supported": ["openid", "profile"],
            "claims_supported": claims,
            "acr_values_supported": [provider.acr] if provider.acr else [],
        })

    @bp.get("/jwks")
    def jwks() -> Any:
        return jsonify(KeySet(provider.keys).as_dict(private=False))

    @bp.post("/rotate-key")
    def rotate() -> Any:
        """Test hook of the sandbox: start signing with a new key, keep the old one published."""
        return jsonify({"kid": provider.rotate_key().kid})

    @bp.get("/session")
    def sso_state() -> Any:
        """Whether this browser is signed in at the provider (the single sign-on a logout must end)."""
        return jsonify({"signed_in": bool(session.get(session_key))})

    @bp.post("/test-mode")
    def test_mode() -> Any:
        """Test hook of the sandbox: spoil the next ID token (see `spoil`)."""
        mode = request.form.get("mode", "")
        if mode not in SPOILERS:
            abort(400)
        provider.test_mode = mode
        return jsonify({"mode": mode})

    @bp.route("/authorize", methods=["GET", "POST"])
    def authorize() -> Any:
        try:
            server.get_consent_grant(end_user=None)
        except OAuth2Error as error:
            return render_template("error.html", provider=provider, error=error.error,
                                   description=error.description), 400
        if request.method == "GET":
            return render_template("login.html", provider=provider, query=request.query_string.decode())
        if request.form.get("action") == "cancel":
            return server.create_authorization_response(grant_user=None)
        account = provider.account(request.form.get("account", ""))
        if account is None:
            abort(400)
        session[session_key] = account.id
        return server.create_authorization_response(grant_user=account)

    @bp.post("/token")
    def token() -> Any:
        return server.create_token_response()

    @bp.route("/userinfo", methods=["GET", "POST"])
    @protect()
    def userinfo() -> Any:
        from authlib.integrations.flask_oauth2 import current_token

        account = provider.account(current_token.user_id)
        if account is None:
            abort(404)
        return jsonify({"sub": account.id, **account.claims})

    @bp.route("/logout", methods=["GET", "POST"])
    def logout() -> Any:
        """OpenID Connect RP-Initiated Logout 1.0. The relying party names itself by `client_id` or by an
        `id_token_hint` (checked to be one of ours, expired or not); `post_logout_redirect_uri` is followed
        only when it is registered for that very client. Without a hint naming the person signed in here,
        the person is asked first (section 2: the OP MUST ask), so a forged link signs nobody out silently."""
        given = request.values
        hinted: dict[str, Any] | None = None
        if given.get("id_token_hint"):
            hinted = _hint_claims(given["id_token_hint"])
            if hinted is None:
                return _refuse("invalid_request", "id_token_hint is not an ID token this provider issued")
        client_id = given.get("client_id")
        if hinted is not None:
            audience = hinted.get("aud")
            audience = [audience] if isinstance(audience, str) else list(audience or [])
            if client_id and client_id not in audience:
                return _refuse("invalid_request", "client_id is not the audience of id_token_hint")
            client_id = client_id or (audience[0] if audience else None)
        client = provider.clients.get(client_id) if client_id else None
        if client_id and client is None:
            return _refuse("invalid_client", "unknown client_id")
        target = given.get("post_logout_redirect_uri")
        if target and (client is None or target not in client.post_logout_redirect_uris):
            return _refuse("invalid_request", "post_logout_redirect_uri is not registered for this client "
                           "(name the client by client_id or id_token_hint)")
        state = given.get("state")
        back = target + (("?" + urlencode({"state": state})) if state else "") if target else None
        signed_in = session.get(session_key)
        confirm_key = f"{session_key}_logout"
        if request.method == "POST":
            if not secrets.compare_digest(request.form.get("confirm", ""), session.pop(confirm_key, "") or "-"):
                return _refuse("invalid_request", "the confirmation form has expired; start the logout again")
            if request.form.get("action") == "stay":
                return redirect(back) if back else render_template("logged_out.html", provider=provider,
                                                                   stayed=True)
        elif signed_in and not (hinted is not None and hinted.get("sub") == signed_in):
            session[confirm_key] = secrets.token_urlsafe(16)
            fields = {k: given[k] for k in ("client_id", "post_logout_redirect_uri", "state", "id_token_hint")
                      if given.get(k)}
            return render_template("logout.html", provider=provider, fields=fields, confirm=session[confirm_key],
                                   client=client)
        session.pop(session_key, None)
        return redirect(back) if back else render_template("logged_out.html", provider=provider)

    def _hint_claims(value: str) -> dict[str, Any] | None:
        try:
            token = jwt.decode(value, KeySet(provider.keys), algorithms=["RS256"])
        except (JoseError, ValueError):
            return None
        return dict(token.claims) if token.claims.get("iss") == provider.issuer else None

    def _refuse(error: str, description: str) -> Any:
        return render_template("error.html", provider=provider, error=error, description=description), 400

    app.register_blueprint(bp)
    return bp


SPOILERS = {"bad-signature", "expired", "wrong-nonce", "wrong-audience", "wrong-issuer", "unknown-key"}


def spoil(id_token: str, mode: str, provider: Provider) -> str:
    """An ID token a careful relying party must refuse: forged, expired, replayed or misdirected."""
    header_b64, payload_b64, signature = id_token.split(".")
    if mode == "bad-signature":
        return f"{header_b64}.{payload_b64}.{signature[:-4]}{'AAAA' if signature[-4:] != 'AAAA' else 'BBBB'}"
    claims = json.loads(base64.urlsafe_b64decode(payload_b64 + "=" * (-len(payload_b64) % 4)))
    key = provider.keys[0]
    now = int(time.time())
    if mode == "expired":
        claims.update(iat=now - 1200, exp=now - 600, auth_time=now - 1200)
    elif mode == "wrong-nonce":
        claims["nonce"] = "nonce-from-another-login"
    elif mode == "wrong-audience":
        claims["aud"] = ["another-relying-party"]
    elif mode == "wrong-issuer":
        claims["iss"] = "https://evil.example/wk"
    elif mode == "unknown-key":
        key = RSAKey.generate_key(2048, parameters={"kid": provider.keys[0].kid or "k", "alg": "RS256"})
    return jwt.encode({"alg": "RS256", "kid": provider.keys[0].kid or ""}, claims, key)


def resident_claims(person: Any) -> dict[str, Any]:
    """The eIDAS natural-person attribute set, as a login.gov.pl broker passes it on."""
    return {
        "CurrentGivenName": person.given_name,
        "CurrentFamilyName": person.family_name,
        "DateOfBirth": person.birth_date,
        "PersonIdentifier": person.pesel,
        "address": person.address_claim(),
        "AuthenticatingAuthority": "login.gov.pl (SANDBOX)",
    }


def foreign_claims(person: Any) -> dict[str, Any]:
    return {
        "CurrentGivenName": person.given_name,
        "CurrentFamilyName": person.family_name,
        "DateOfBirth": person.birth_date,
        "PersonIdentifier": person.identifier,
        "AuthenticatingAuthority": f"eIDAS node ({person.country}, SANDBOX)",
    }


def clerk_claims(clerk: Any) -> dict[str, Any]:
    return {"name": clerk.name, "preferred_username": clerk.username, "unit": clerk.unit, "roles": list(clerk.roles),
            "email": f"{clerk.username}@um.leszno.example", "email_verified": True}


ClaimsFactory = Callable[[Any], dict[str, Any]]

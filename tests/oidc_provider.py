"""A tiny OpenID Connect provider for tests: discovery, authorize (PKCE), token and JWKS endpoints.

It signs real RS256 ID tokens with joserfc and checks the client secret and the PKCE
verifier, so the app's authlib client is exercised end to end over HTTP on 127.0.0.1.
"""
from __future__ import annotations

import base64
import hashlib
import secrets
import time
from urllib.parse import urlencode

from flask import Flask, abort, jsonify, redirect, request
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.conftest import LiveServer


class Provider:
    """The provider app served on a spare port; `user` holds the claims of whoever logs in next."""

    def __init__(self, client_id: str = "mvc", client_secret: str = "s3cret") -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.key = RSAKey.generate_key(2048, parameters={"kid": "test-key"})
        self.user: dict = {}
        self.codes: dict[str, dict] = {}
        self.requests: list[dict] = []  # authorize requests seen, for assertions
        self.live = LiveServer(self._app())
        self.url = self.live.url

    def stop(self) -> None:
        """Shut the server down."""
        self.live.stop()

    def _app(self) -> Flask:
        app = Flask("oidc-provider")
        app.add_url_rule("/.well-known/openid-configuration", view_func=self.discovery)
        app.add_url_rule("/authorize", view_func=self.authorize)
        app.add_url_rule("/token", view_func=self.token, methods=["POST"])
        app.add_url_rule("/jwks", view_func=lambda: jsonify({"keys": [self.key.as_dict(private=False)]}))
        return app

    def discovery(self):
        return jsonify({
            "issuer": self.url, "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token", "jwks_uri": f"{self.url}/jwks",
            "response_types_supported": ["code"], "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"], "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        })

    def authorize(self):
        args = request.args.to_dict()
        self.requests.append(args)
        if args.get("client_id") != self.client_id or args.get("response_type") != "code":
            abort(400)
        code = secrets.token_urlsafe(16)
        self.codes[code] = {"claims": dict(self.user), "nonce": args.get("nonce"), "redirect_uri": args["redirect_uri"],
                            "challenge": args.get("code_challenge"), "method": args.get("code_challenge_method")}
        return redirect(f"{args['redirect_uri']}?{urlencode({'code': code, 'state': args.get('state', '')})}")

    def token(self):
        auth = request.authorization
        client = (auth.username, auth.password) if auth else (request.form.get("client_id"), request.form.get("client_secret"))
        if client != (self.client_id, self.client_secret):
            return jsonify({"error": "invalid_client"}), 401
        grant = self.codes.pop(request.form.get("code", ""), None)
        verifier = request.form.get("code_verifier", "")
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if grant is None or grant["redirect_uri"] != request.form.get("redirect_uri") or grant["method"] != "S256" \
                or digest != grant["challenge"]:
            return jsonify({"error": "invalid_grant"}), 400
        now = int(time.time())
        claims = {"iss": self.url, "aud": self.client_id, "iat": now, "exp": now + 300, "nonce": grant["nonce"],
                  **grant["claims"]}
        id_token = jwt.encode({"alg": "RS256", "kid": "test-key"}, claims, self.key)
        return jsonify({"access_token": secrets.token_urlsafe(16), "token_type": "Bearer", "expires_in": 300,
                        "id_token": id_token})

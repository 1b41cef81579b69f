"""OpenID Connect sign-in through authlib: state, nonce and PKCE are checked on every callback."""

from __future__ import annotations

import logging
from typing import Any

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.base_client.errors import MismatchingStateError, OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Flask, request

from broker.config import OidcSettings
from broker.errors import Failed, Invalid

log = logging.getLogger(__name__)
CLIENT = "sso"


class SignInError(Invalid):
    """The sign-in could not be completed; `message` is for the person (`params`: its details, for the
    error page's translation)."""


class ProviderUnreachable(Failed, SignInError):
    code = "provider_unreachable"


def init_oidc(app: Flask, settings: OidcSettings) -> OAuth | None:
    if not settings.enabled:
        return None
    oauth = OAuth(app)
    endpoints: dict[str, Any]
    if settings.oidc_discovery_url:
        endpoints = {"server_metadata_url": settings.oidc_discovery_url}
    else:
        # authlib treats the extra keyword arguments as the provider's metadata.
        endpoints = {
            "authorize_url": settings.oidc_authorize_url,
            "access_token_url": settings.oidc_token_url,
            "userinfo_endpoint": settings.oidc_userinfo_url or None,
            "jwks_uri": settings.oidc_jwks_url,
            "issuer": settings.oidc_issuer,
        }
    oauth.register(
        CLIENT,
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret,
        client_kwargs={"scope": settings.oidc_scopes, "code_challenge_method": "S256", "timeout": 10},
        **endpoints,
    )
    return oauth


def _provider_unreachable(settings: OidcSettings, exc: Exception) -> ProviderUnreachable:
    log.warning("OIDC provider unreachable: %s", type(exc).__name__)
    return ProviderUnreachable(
        f"The sign-in service ({settings.oidc_provider_name}) cannot be reached right now. "
        "Please try again in a few minutes.",
        params={"provider": settings.oidc_provider_name},
    )


def begin(oauth: OAuth, settings: OidcSettings, redirect_uri: str):
    """The redirect to the provider's login page."""
    try:
        return oauth.create_client(CLIENT).authorize_redirect(redirect_uri)
    except requests.RequestException as exc:
        raise _provider_unreachable(settings, exc) from None


def finish(oauth: OAuth, settings: OidcSettings) -> dict[str, Any]:
    """Check the callback and return the person's claims (ID token merged with userinfo)."""
    if request.args.get("error"):
        detail = (request.args.get("error_description") or request.args["error"])[:200]
        raise SignInError(
            f"The sign-in service did not sign you in: {detail}", code="provider_refused", params={"detail": detail}
        )
    if not request.args.get("code"):
        raise SignInError("The sign-in service sent no authorization code. Please start again.", code="missing_code")
    client = oauth.create_client(CLIENT)
    try:
        token = client.authorize_access_token()
    except MismatchingStateError:
        raise SignInError(
            "This sign-in link has expired or was already used. Please start again.", code="invalid_state"
        ) from None
    except requests.RequestException as exc:
        raise _provider_unreachable(settings, exc) from None
    except (OAuthError, AuthlibBaseError) as exc:
        log.warning("OIDC callback refused: %s", getattr(exc, "error", type(exc).__name__))
        raise SignInError("The sign-in could not be verified. Please start again.", code="sign_in_failed") from None
    claims = dict(token.get("userinfo") or {})
    if not claims:
        raise SignInError("The sign-in service sent no ID token.", code="sign_in_failed")
    if client.load_server_metadata().get("userinfo_endpoint"):
        try:
            userinfo = dict(client.userinfo(token=token))
        except requests.RequestException as exc:
            raise _provider_unreachable(settings, exc) from None
        # OIDC Core 5.3.2: userinfo must describe the same subject as the ID token.
        if userinfo.get("sub") and userinfo["sub"] != claims.get("sub"):
            raise SignInError("The sign-in service sent inconsistent answers.", code="sign_in_failed")
        claims.update(userinfo)
    return claims

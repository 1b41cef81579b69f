"""The one mapping from domain errors to HTTP: each package's errors keep the status, code and
Retry-After they are answered with."""

import pytest

from broker.admin.service import ConnectionNotLive
from broker.auth.claims import ClaimsError
from broker.auth.oidc import ProviderUnreachable, SignInError
from broker.auth.signin import SignInRefused, WrongCredentials
from broker.auth.throttle import Throttled
from broker.desktops.errors import Busy, DesktopError, NoDesktop, NotAllowed, QuotaExceeded, StartFailed, StartTimedOut
from broker.desktops.provider import ImageMissing, IsolationFailed, NameTaken, Vanished
from broker.engine import EngineUnavailable, ProviderError
from broker.errors import DomainError, status_of
from broker.tunnels.service import AccessEnded, BadConnectRequest, NoSuchDesktop, NotRunning, TokenInvalid, WatchOnly


@pytest.mark.parametrize(
    "error, status, code",
    [
        (DesktopError("several", code="desktop_type_needed"), 400, "desktop_type_needed"),
        (NoDesktop("none"), 404, "no_desktop"),
        (NotAllowed("not yours"), 403, "desktop_type_not_allowed"),
        (QuotaExceeded("too many"), 409, "quota_exceeded"),
        (Busy("busy"), 409, "desktop_busy"),
        (StartFailed("failed"), 502, "start_failed"),
        (StartTimedOut("no answer"), 504, "start_timeout"),
        (ProviderError("broken"), 502, "engine_error"),
        (IsolationFailed("no rules"), 502, "engine_error"),
        (Vanished("gone"), 502, "engine_error"),
        (NameTaken(None), 502, "engine_error"),
        (ImageMissing("no image"), 503, "image_missing"),
        (EngineUnavailable("down"), 503, "engine_unavailable"),
        (WrongCredentials("wrong"), 401, "invalid_credentials"),
        (SignInRefused("disabled", code="account_disabled"), 403, "account_disabled"),
        (Throttled(7), 429, "too_many_attempts"),
        (SignInError("no code", code="missing_code"), 400, "missing_code"),
        (ProviderUnreachable("unreachable"), 502, "provider_unreachable"),
        (ClaimsError("no sub"), 400, "bad_claims"),
        (ConnectionNotLive("ended"), 409, "connection_ended"),
        (BadConnectRequest("mode"), 400, "bad_request"),
        (NoSuchDesktop("none"), 404, "desktop_not_found"),
        (WatchOnly("guacamole only"), 403, "forbidden"),
        (NotRunning("stopped"), 409, "desktop_not_running"),
        (TokenInvalid("expired"), 401, "token_invalid"),
        (AccessEnded("desktop_stopped"), 403, "desktop_stopped"),
    ],
)
def test_each_error_keeps_its_status_and_code(error: DomainError, status: int, code: str):
    assert (status_of(error), error.code) == (status, code)


def test_waiting_is_said_where_it_helps():
    assert EngineUnavailable("down").retry_after == 30
    throttled = Throttled(7)
    assert throttled.retry_after == 7
    assert throttled.message == "Too many failed sign-ins. Try again in 7 seconds."
    assert ProviderError("broken").retry_after is None


def test_an_error_of_no_kind_is_ours():
    assert status_of(DomainError("a bug")) == 500


def test_the_error_page_gets_the_details_it_translates():
    claims = ClaimsError("the provider sent neither a uuid nor a sub claim")
    assert claims.message == "The sign-in service sent unusable data: the provider sent neither a uuid nor a sub claim."
    assert claims.params == {"detail": "the provider sent neither a uuid nor a sub claim"}
    assert AccessEnded("desktop_stopped").reason == "desktop_stopped"

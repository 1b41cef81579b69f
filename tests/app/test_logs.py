import logging

from broker.logs import RedactSecrets


def test_secrets_and_tokens_never_reach_the_log(caplog):
    logger = logging.getLogger("test.redact")
    logger.addFilter(RedactSecrets(["super-secret-client-secret"]))
    with caplog.at_level(logging.INFO, logger="test.redact"):
        logger.info(
            "secret %s in GET /tunnel?token=%s&x=1 and /?session_id=%s, header %s",
            "super-secret-client-secret",
            "tok123",
            "sess456",
            "Bearer abc.def",
        )
    text = caplog.records[0].getMessage()
    for leaked in ("super-secret-client-secret", "tok123", "sess456", "abc.def"):
        assert leaked not in text
    assert "token=***" in text and "&x=1" in text

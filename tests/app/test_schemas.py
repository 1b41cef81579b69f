"""The shared pieces of the JSON shapes: one time format, one bilingual text, one int query-arg parser."""

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from flask import Flask

from broker.errors import DomainError, status_of
from broker.query_args import int_arg
from broker.schemas import bilingual, utc_text


def test_times_are_utc_with_a_z_from_database_datetimes_and_file_times():
    assert utc_text(None) is None
    assert utc_text(datetime(2024, 5, 1, 12, 30)) == "2024-05-01T12:30:00Z"
    assert utc_text(datetime(2024, 5, 1, 12, 30, 0, 250000)) == "2024-05-01T12:30:00.250000Z"
    moment = datetime(2024, 5, 1, 12, 30, 0, 250000, tzinfo=UTC)
    assert utc_text(moment.timestamp()) == "2024-05-01T12:30:00.250000Z"
    assert utc_text(0) == "1970-01-01T00:00:00Z"


def test_a_bilingual_text_is_its_two_columns():
    kind = SimpleNamespace(title_de="Büro", title_en="Office")
    assert bilingual(kind, "title") == {"de": "Büro", "en": "Office"}


@pytest.mark.parametrize(
    ("raw", "strict", "lenient"),
    [
        (None, 50, 50),
        ("", 50, 50),
        ("7", 7, 7),
        ("900", 500, 500),
        ("1", 1, 1),
        ("0", "at least 1", 1),
        ("-5", "at least 1", 1),
        ("x", "whole number", 50),
        ("1.5", "whole number", 50),
    ],
)
def test_int_args_refuse_or_fall_back(raw, strict, lenient):
    app = Flask(__name__)
    query = {} if raw is None else {"n": raw}
    with app.test_request_context("/", query_string=query):
        assert int_arg("n", 50, 1, 500, lenient=True) == lenient
        if isinstance(strict, int):
            assert int_arg("n", 50, 1, 500) == strict
        else:
            with pytest.raises(DomainError) as refused:
                int_arg("n", 50, 1, 500)
            assert status_of(refused.value) == 400 and strict in refused.value.message

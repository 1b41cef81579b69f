import pytest

from broker.tunnels.guacd import answer_version
from broker.tunnels.protocol import ProtocolError, encode, parse, split_complete


def test_values_with_separators_and_unicode_survive_a_round_trip():
    values = ["clipboard;text", "a,b.c", "Grüße 👋", "", "3.14;"]
    text = encode("blob", *values)
    assert parse(text, 8192) == [["blob", *values]]
    # Lengths count code points, as guacd and guacamole-common-js do.
    assert encode("x", "👋") == "1.x,1.👋;"


def test_the_stream_is_cut_at_instruction_boundaries_not_at_semicolons():
    stream = encode("img", "1", "14", "0", "image/png", "0", "0") + encode("blob", "1", "iV;BO,R") + "4.sync,3.12"
    complete, rest = split_complete(stream, 8192)
    assert parse(complete, 8192) == [["img", "1", "14", "0", "image/png", "0", "0"], ["blob", "1", "iV;BO,R"]]
    assert rest == "4.sync,3.12"
    complete, rest = split_complete(rest + "3;", 8192)
    assert parse(complete, 8192) == [["sync", "123"]] and rest == ""


@pytest.mark.parametrize(
    "text, message",
    [
        ("4.sync,x.12;", "bad element length"),
        ("4.sync;3.abc!", "unexpected '!'"),
        ("99999999999999.x;", "element length missing or too long"),
        ("5000.x" + "y" * 5000 + ";", "longer than 4096"),
        ("1.a," * 200 + "1.a;", "more than 128 elements"),
        ("4.sync,2.12", "incomplete instruction"),
    ],
)
def test_malformed_instructions_are_refused(text, message):
    with pytest.raises(ProtocolError, match=message):
        parse(text, 4096)


@pytest.mark.parametrize(
    "offered, answer",
    [
        ("VERSION_1_3_0", "VERSION_1_3_0"),
        ("VERSION_1_5_0", "VERSION_1_5_0"),
        ("VERSION_1_6_0", "VERSION_1_5_0"),
        ("VERSION_1_1_0", "VERSION_1_1_0"),
    ],
)
def test_the_protocol_version_is_capped_at_what_both_sides_speak(offered, answer):
    assert answer_version(offered) == answer

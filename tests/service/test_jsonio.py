import json
import math

import pytest

from service import jsonio


def test_writes_compact_utf8_that_the_standard_library_reads_back() -> None:
    value = {"name": "Zoë", "n": 1, "f": 1.5, "none": None, "nested": {"list": [True, "x"]}}
    text = jsonio.dumps(value)
    assert text == '{"name":"Zoë","n":1,"f":1.5,"none":null,"nested":{"list":[true,"x"]}}'
    assert json.loads(text) == value
    assert jsonio.dumpb(value) == text.encode()


def test_sorts_keys_when_asked() -> None:
    assert jsonio.dumps({"b": 1, "a": {"d": 2, "c": 3}}, sort_keys=True) == '{"a":{"c":3,"d":2},"b":1}'


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"big": 2**70}, '{"big":1180591620717411303424}'),  # beyond orjson's 64 bits
        ({1: "x"}, '{"1":"x"}'),  # a key that is not a string
        ({"s": "\ud800"}, '{"s":"\\ud800"}'),  # a lone surrogate, escaped rather than an error
    ],
)
def test_what_orjson_refuses_is_written_as_the_standard_library_writes_it(value: object, expected: str) -> None:
    assert jsonio.dumps(value) == expected


def test_default_converts_unknown_values_and_without_it_they_are_refused() -> None:
    assert jsonio.dumps({"error": ValueError("boom")}, default=str) == '{"error":"boom"}'
    with pytest.raises(TypeError):
        jsonio.dumps({"error": ValueError("boom")})


@pytest.mark.parametrize("number", [2**70, -(2**63) - 1, 2**64 - 1, -(2**63)])
def test_reads_integers_beyond_64_bits_exactly(number: int) -> None:
    text = f'{{"n": {number}, "list": [{number}]}}'
    for raw in (text, text.encode()):
        read = jsonio.loads(raw)
        assert read == {"n": number, "list": [number]} and type(read["n"]) is int


def test_reads_bytes_and_text_and_what_only_the_standard_library_reads() -> None:
    assert jsonio.loads(b'{"a":[1,2]}') == {"a": [1, 2]}
    assert jsonio.loads('{"a": "é"}') == {"a": "é"}
    assert math.isnan(jsonio.loads('{"a": NaN}')["a"])
    with pytest.raises(json.JSONDecodeError):
        jsonio.loads("{not json")

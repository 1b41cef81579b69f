"""How the broker reads JSON request bodies: text Python's json would choke on later counts as malformed.

Flask's `get_json(silent=True)` turns a ValueError into None, so each route answers its own 400
instead of a 500 from deep in a request: nesting past Python's recursion limit, lone surrogates
(no database or file system takes them) and NaN/Infinity (not JSON at all) are refused at parsing.
"""

from __future__ import annotations

import json
from typing import Any

from flask.json.provider import DefaultJSONProvider


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


class StrictJSONProvider(DefaultJSONProvider):
    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            value = json.loads(s, parse_constant=_not_json, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("JSON text with lone surrogates (not Unicode text)") from None
        return value

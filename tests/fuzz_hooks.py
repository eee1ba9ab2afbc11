"""Schemathesis hooks (SCHEMATHESIS_HOOKS=tests.fuzz_hooks): sign each request in as the next role in turn."""

from __future__ import annotations

import itertools
import json
import os
from typing import Any

import schemathesis

_TOKENS = itertools.cycle(json.loads(os.environ.get("GRIDGOV_FUZZ_TOKENS") or '["none"]'))


@schemathesis.auth(refresh_interval=None)
class EachRoleInTurn:
    """A device token per role (tests/fuzz.py makes them), a different one for each generated request."""

    def get(self, case: Any, ctx: Any) -> str:
        return str(next(_TOKENS))

    def set(self, case: Any, data: str, ctx: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

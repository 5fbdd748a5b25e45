"""Schemathesis generates requests from the OpenAPI spec (valid and invalid parameters,
bodies, uploads) as an admin; no answer may be a server error."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from serving import Served, build_demo, serve

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    s = serve(build_demo(tmp_path_factory.mktemp("fuzz") / "fuzz.duckdb"))
    with s.client:
        yield s


def operations(served: Served) -> list[Any]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", served.client.app)
    return [result.ok() for result in schema.get_all_operations()]


def test_no_request_makes_a_server_error(fuzzed: Served) -> None:
    ops = operations(fuzzed)
    assert len(ops) >= 14
    for op in ops:

        @given(case=op.as_strategy())
        @settings(
            max_examples=25,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            derandomize=True,
        )
        def check(case: Any) -> None:
            response = case.call(headers=fuzzed.as_admin())
            case.validate_response(response, checks=[not_a_server_error])

        check()

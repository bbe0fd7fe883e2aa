"""A property-based run of the API's own OpenAPI document (schemathesis) against the live app.

Every operation gets generated requests, valid and invalid, with a valid token: no answer may be
a 5xx, and every answer must match the document (status code, content type, headers, body schema),
and input the document forbids must be refused.
"""
from __future__ import annotations

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, negative_data_rejection,
                                               response_headers_conformance, response_schema_conformance,
                                               status_code_conformance)

from tests.api_helpers import make_client
from tests.conftest import LiveServer, base_config, build_app, stop_app

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, negative_data_rejection]


@pytest.fixture(scope="module")
def live_api(tmp_path_factory):
    """The app on a real HTTP server, a planner client's token, and the document loaded from the server."""
    tmp = tmp_path_factory.mktemp("schemathesis")
    app = build_app(base_config(tmp, API_RATE_PER_MINUTE=100000, SMS_NUMBER_PER_HOUR=100000,
                                SMS_DAILY_CAP=100000, SMS_ORG_PER_HOUR=100000))
    server = LiveServer(app)
    client_id, secret = make_client(app, ["meeting-planner"])
    token = requests.post(f"{server.url}/oauth/token", data={"grant_type": "client_credentials"},
                          auth=(client_id, secret), timeout=10).json()["access_token"]
    schema = schemathesis.openapi.from_url(f"{server.url}/api/v2/openapi.json")
    yield schema, token
    server.stop()
    stop_app(app)


# schemathesis' own pytest loader (schemathesis.pytest.from_fixture) breaks on pytest 9 (it sets
# Node._nodeid, which pytest 9 renamed), so each operation's strategies are run with hypothesis here.
def test_every_operation_answers_as_the_document_says(live_api):
    schema, token = live_api
    auth = {"Authorization": f"Bearer {token}"}
    failures: dict[str, str] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15  # every route of the document, the token endpoint included
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            label = f"{operation.label} ({mode.value})"

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=15, deadline=None, derandomize=True, database=None,
                      suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
            def run(case):
                # A failing answer is kept with the request that got it, not raised: hypothesis would
                # send the request again, and an answer that differs the second time (the server's
                # state or load moved on) is then reported as flakiness instead of the answer itself.
                try:
                    case.call_and_validate(headers=auth, checks=CHECKS, timeout=10)
                except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - every operation's first failure
                    failures.setdefault(label, f"{exc}\n{case.as_curl_command(headers=auth)}")

            try:
                run()
            except Unsatisfiable:
                pass  # nothing in the operation can be made invalid (e.g. GET /v2/info in negative mode)
    assert not failures, "\n\n".join(f"{label}: {text}" for label, text in failures.items())

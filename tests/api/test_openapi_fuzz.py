"""The whole API fuzzed from its own OpenAPI document (schemathesis, real HTTP).

Positive and negative data for every operation, first with free path parameters,
then with the campaign's name and claimed trial ids so bodies reach validation.
No request may give a 5xx, and responses must match the document (status codes,
content types, bodies), negative data must be refused, and auth must be enforced.
A run without credentials must get nothing but 401s.

Generation is derandomised, so a failure names the same request on every run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    ignored_auth,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
)
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    status_code_conformance,
)

from loop.api.limits import RateLimiter
from loop.records import TrialStatus
from tests.lab import RobotCampaign, live_server, robot_campaign

#: a peer strategy or a fuzzer: minutes of CPU, run by `make test-slow` and CI
pytestmark = pytest.mark.slow

EXAMPLES = 25
#: Checks that hold for sound reasons. Not `positive_data_acceptance`: data the
#: schema allows is still refused for good reasons (unknown objectives, trials
#: that do not exist, integers written as 7.0 for the strict `attempt`).
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
    ignored_auth,
]
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)


@pytest.fixture
def served(db_url: str) -> Iterator[tuple[RobotCampaign, str, Any]]:
    rc = robot_campaign(db_url)
    rc.propose(8)
    # no rate limit: the fuzzer sends thousands of requests with one token
    with live_server(rc.store, limiter=RateLimiter(rate=1e9, burst=10**9)) as url:
        yield rc, url, schemathesis.openapi.from_url(f"{url}/openapi.json")


def fuzz(
    schema: Any,
    examine: Callable[[Any], None],
    bind: dict[str, Any] | None = None,
) -> None:
    """Run *examine(case)* on generated cases of every operation, both modes.

    *bind* fixes path parameters (by name) where an operation has them.
    """
    for result in schema.get_all_operations():
        operation = result.ok()
        names = {p.name for p in operation.path_parameters}
        path_parameters = {k: v for k, v in (bind or {}).items() if k in names}
        if bind is not None and not path_parameters:
            continue
        # /healthz takes no input at all, so there is nothing to make negative
        takes_input = any(operation.iter_parameters()) or bool(operation.body)
        modes = MODES if takes_input else MODES[:1]
        for mode in modes:

            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            @given(
                case=operation.as_strategy(
                    generation_mode=mode, path_parameters=path_parameters or None
                )
            )
            def run(case: Any) -> None:
                examine(case)

            run()


def validated(
    url: str, headers: dict[str, str], failures: list[str], seen: Counter[int]
) -> Callable:
    def examine(case: Any) -> None:
        response = case.call(base_url=url, headers=headers)
        seen[response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except Exception as exc:  # a check failed: collect them all, then report
            failures.append(
                f"{case.operation.label} ({case.meta.generation.mode.value}): "
                f"{response.status_code}\n{exc}\n"
                f"{case.as_curl_command(headers=headers)}"
            )

    return examine


@pytest.mark.timeout(120)
def test_fuzzing_with_a_valid_token_gives_no_server_error_and_follows_the_schema(
    served: tuple[RobotCampaign, str, Any],
) -> None:
    rc, url, schema = served
    auth = {"Authorization": f"Bearer {rc.token}"}
    failures: list[str] = []
    seen: Counter[int] = Counter()
    examine = validated(url, auth, failures, seen)
    fuzz(schema, examine)

    # bodies that reach validation: the real campaign and trials this robot holds
    with httpx.Client(base_url=url, headers=auth, timeout=30) as robot:
        r = robot.post(f"/api/v1/campaigns/{rc.name}/claims")
    assert r.status_code == 200, r.text
    fuzz(schema, examine, bind={"name": rc.name, "trial_id": r.json()["trial_id"]})

    assert seen[200] > 0 and seen.total() > 300, seen  # the token was used
    assert not failures, f"{len(failures)} failed checks:\n\n" + "\n\n".join(
        dict.fromkeys(failures)
    )
    # whatever the fuzzer did, every trial is in a state the lifecycle allows
    for trial in rc.store.trials(rc.name):
        assert (trial.status == TrialStatus.COMPLETED) == (
            trial.measurement is not None
        )


@pytest.mark.timeout(120)
def test_fuzzing_without_credentials_gets_only_401s(
    served: tuple[RobotCampaign, str, Any],
) -> None:
    rc, url, schema = served
    before = rc.store.trials(rc.name)
    wrong: dict[str, str] = {}

    def examine(case: Any) -> None:
        if case.operation.path == "/healthz":
            return
        case.headers = {
            k: v
            for k, v in (case.headers or {}).items()
            if k.lower() != "authorization"
        }
        response = case.call(base_url=url)
        challenged = any(h.lower() == "www-authenticate" for h in response.headers)
        if response.status_code != 401 or not challenged:
            label = f"{case.operation.label} -> {response.status_code}"
            wrong.setdefault(label, f"{response.text[:200]}\n{case.as_curl_command()}")

    fuzz(schema, examine)
    fuzz(schema, examine, bind={"name": rc.name, "trial_id": before[0].id})
    assert not wrong, "\n\n".join(f"{k}\n{v}" for k, v in wrong.items())
    assert rc.store.trials(rc.name) == before

"""The OpenAPI document is a reviewed contract (ARCHITECTURE.md §5).

The served `/openapi.json` must equal the committed docs/reference/openapi.json,
so that any change to a route, a body or a response shows up in review. After a
deliberate change, regenerate the copy and commit it with the change:

    loop schema --api -o docs/reference/openapi.json      (or `make schema`)

The document must also describe every response body: the documents of
`loop.documents` for successes, `ErrorBody` for every 4xx and 5xx. Over real
HTTP, the status document keeps its shape: `best` for one objective, `pareto`
for several, never both, exactly as `loop inspect --format json` prints it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from loop.api.app import openapi_document
from loop.service.campaigns import status_document
from tests.lab import live_server, robot_campaign

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "reference" / "openapi.json"
REGENERATE = "regenerate it with `loop schema --api -o docs/reference/openapi.json`"
ERROR_BODY = {"$ref": "#/components/schemas/ErrorBody"}


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    ]


def test_the_served_document_equals_the_committed_copy(db_url: str) -> None:
    rc = robot_campaign(db_url)
    with live_server(rc.store) as url:
        served = httpx.get(f"{url}/openapi.json", timeout=30).json()
    committed = json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert served == committed, f"the API changed: review the change and {REGENERATE}"


def test_the_generated_document_is_the_served_one(db_url: str) -> None:
    """`loop schema --api` needs no database, and writes what the server serves."""
    rc = robot_campaign(db_url)
    with live_server(rc.store) as url:
        served = httpx.get(f"{url}/openapi.json", timeout=30).json()
    assert openapi_document() == served


def test_every_response_has_a_body_schema_and_errors_are_error_bodies() -> None:
    document = openapi_document()
    schemas = document["components"]["schemas"]
    for method, path, operation in operations(document):
        responses = operation["responses"]
        for status, response in responses.items():
            label = f"{method} {path} {status}"
            if status == "204":
                assert "content" not in response, label
                continue
            schema = response["content"]["application/json"]["schema"]
            if status.startswith(("4", "5")):
                assert schema == ERROR_BODY, label
            else:
                assert set(schema) == {"$ref"}, f"{label}: {schema}"
                assert schema["$ref"].rsplit("/", 1)[-1] in schemas, label
        if path.startswith("/api/"):
            assert {"401", "403", "422", "503"} <= set(responses), f"{method} {path}"
    assert set(schemas["ErrorBody"]["required"]) == {"code", "message", "hint"}


def test_the_status_document_has_best_or_pareto_as_inspect_prints_it(
    tmp_path: Path,
) -> None:
    two = [
        {"name": "conductivity", "direction": "maximize", "unit": "mS/cm"},
        {"name": "viscosity", "direction": "minimize", "unit": "mPa*s"},
    ]
    for folder, changes, present, absent in (
        ("one", {}, "best", "pareto"),
        ("two", {"objectives": two}, "pareto", "best"),
    ):
        rc = robot_campaign(f"sqlite:///{tmp_path / folder / 'loop.db'}", **changes)
        rc.propose(2)
        with live_server(rc.store) as url:
            r = httpx.get(
                f"{url}/api/v1/campaigns/{rc.name}",
                headers={"Authorization": f"Bearer {rc.token}"},
                timeout=30,
            )
        assert r.status_code == 200, r.text
        body = r.json()
        assert present in body and absent not in body
        printed = json.loads(json.dumps(status_document(rc.store, rc.name)))
        assert body == printed
        assert list(body) == list(printed)  # the same keys, in the same order


def test_error_bodies_carry_fields_only_for_invalid_bodies(db_url: str) -> None:
    rc = robot_campaign(db_url)
    with live_server(rc.store) as url:
        unauthorised = httpx.post(f"{url}/api/v1/campaigns/{rc.name}/claims")
        invalid = httpx.post(
            f"{url}/api/v1/trials/0/heartbeat",
            headers={"Authorization": f"Bearer {rc.token}"},
            json={"attempt": 1},
        )
    assert unauthorised.status_code == 401
    assert set(unauthorised.json()) == {"code", "message", "hint"}
    assert invalid.status_code == 422
    assert set(invalid.json()) == {"code", "message", "hint", "fields"}
    assert invalid.json()["fields"][0]["pointer"] == "/trial_id"

"""The JSON Schema of campaign files, for editors and other tools."""

from __future__ import annotations

from typing import Any

from loop.spec.campaign import CampaignSpec


def campaign_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of a campaign file, as pydantic describes it."""
    schema = CampaignSpec.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "loop campaign (schema_version 1)"
    # `fidelities:` brings its own adapter (`loop.spec.fidelity`): one of the two
    schema["required"] = [k for k in schema["required"] if k != "adapter"]
    schema["anyOf"] = [
        {"type": "object", "required": [key]} for key in ("adapter", "fidelities")
    ]
    return schema

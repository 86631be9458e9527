"""`Duration`, the one parser of lengths of time in campaign files, as the robot
and DFT adapter blocks use it: the forms the YAML has always accepted, ISO 8601
beside them, and a refusal that names the key and shows examples."""

from __future__ import annotations

import re

import pytest
from pydantic import BaseModel

from loop.durations import EXAMPLES, Duration
from loop.errors import SpecError
from loop.spec import validate


class Timed(BaseModel):
    wait: Duration


@pytest.mark.parametrize(
    ("given", "seconds"),
    [
        (900, 900.0),
        (2.5, 2.5),
        ("900", 900.0),
        ("90s", 90.0),
        ("15m", 900.0),
        ("2h", 7200.0),
        ("1d", 86400.0),
        ("1.5h", 5400.0),
        (" 15 m ", 900.0),
        ("PT15M", 900.0),
        ("P1DT2H", 93600.0),
        ("01:30:00", 5400.0),
    ],
)
def test_numbers_units_and_iso_8601_are_seconds(given: object, seconds: float) -> None:
    assert Timed.model_validate({"wait": given}).wait == seconds


@pytest.mark.parametrize("unit", ["s", "m", "h", "d"])
def test_the_unit_form_agrees_with_multiplying_out(unit: str) -> None:
    """The hand-written parser this replaced multiplied the number by the unit's
    seconds; to the microsecond the two agree for every tenth up to 100."""
    factor = {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit]
    for tenths in range(1, 1001):
        number = tenths / 10
        parsed = Timed.model_validate({"wait": f"{number}{unit}"}).wait
        assert parsed == pytest.approx(number * factor, abs=1e-6)


@pytest.mark.parametrize("given", [True, False, "soon", "15M", "1e3", "", None, [1]])
def test_anything_else_is_refused_with_examples(given: object) -> None:
    with pytest.raises(ValueError, match=re.escape(EXAMPLES)):
        Timed.model_validate({"wait": given})


def _campaign(adapter: dict) -> dict:
    return {
        "schema_version": 1,
        "name": "durations",
        "space": {"composition": {"components": ["Cu", "Ni"]}},
        "objectives": [{"name": "mixing_energy", "direction": "minimize"}],
        "budget": {"experiments": 4},
        "adapter": adapter,
    }


@pytest.mark.parametrize(
    ("adapter", "path"),
    [
        ({"type": "robot", "claim_ttl": "soon"}, "adapter.claim_ttl"),
        ({"type": "dft", "time_limit": "two hours"}, "adapter.time_limit"),
        ({"type": "dft", "vanish_after": True}, "adapter.vanish_after"),
    ],
)
def test_a_refusal_names_the_key_in_both_adapters(adapter: dict, path: str) -> None:
    with pytest.raises(SpecError) as caught:
        validate(_campaign(adapter))
    [problem] = caught.value.problems
    assert problem.path == path
    assert problem.message.endswith(f"is not a duration; write e.g. {EXAMPLES}")


def test_both_adapters_store_seconds() -> None:
    robot = validate(_campaign({"type": "robot", "claim_ttl": "10m"}))
    dft = validate(_campaign({"type": "dft", "time_limit": "PT2H", "vanish_after": 90}))
    assert robot.adapter["claim_ttl"] == 600.0
    assert (dft.adapter["time_limit"], dft.adapter["vanish_after"]) == (7200.0, 90.0)

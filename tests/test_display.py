"""What people read: rounded numbers in plain notation, with the YAML's units."""

from __future__ import annotations

import pytest

from loop.display import configuration_text, number, parameters_text, value_text


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (302.0539513155818, "302.1"),
        (1200.0, "1200"),
        (12345.6, "12346"),
        (0.05, "0.05"),
        (0.123456, "0.1235"),
        (-3.25, "-3.25"),
        (1.5e-6, "1.5e-06"),
        (2.5e8, "2.5e+08"),
        (float("nan"), "nan"),
    ],
)
def test_numbers_are_rounded_in_plain_notation_for_lab_magnitudes(
    value: float, shown: str
) -> None:
    assert number(value) == shown


def test_parameters_carry_their_units_and_categories_stay_as_written() -> None:
    params = {"temperature": 302.0539513155818, "layers": 3, "salt": "LiPF6"}
    units = {"temperature": "K", "layers": None}
    assert parameters_text(params, units) == "temperature=302.1 K layers=3 salt=LiPF6"
    assert value_text(True) == "True"  # a flag is not a number


def test_a_configuration_line_skips_absent_components() -> None:
    line = configuration_text(
        {"EC": 0.3, "DMC": 0.0, "EMC": 0.7}, {"T": 298.15}, {"T": "K"}
    )
    assert line == "EC 0.3 EMC 0.7; T=298.1 K"
    compact = configuration_text({"EC": 0.3333333, "EMC": 0.6666667}, {}, compact=True)
    assert compact == "EC0.333 EMC0.667"

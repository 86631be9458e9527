"""The report of a two-objective campaign drawn by a real browser: the sections
a chemist reads for a trade-off (best so far per objective, the Pareto front
with the recommended trade-off starred, what the Pareto set is made of)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.report.conftest import finish, two_objectives


def test_the_two_objective_sections_draw(browser: Any, tmp_path: Path) -> None:
    done = finish(tmp_path, two_objectives(10))
    page_file = tmp_path / "report.html"
    page_file.write_text(done.html, encoding="utf-8")
    pareto = done.data.pareto
    assert pareto is not None and pareto["recommended"] is not None
    page = browser.new_page(viewport={"width": 1200, "height": 1500})
    try:
        page.goto(page_file.as_uri())
        for key in ("best-per-goal", "pareto", "front-composition"):
            page.wait_for_selector(f"#fig-{key} .main-svg")
        # one step line per objective, each in its own panel
        assert page.locator("#fig-best-per-goal .scatterlayer .trace").count() == 2
        # measured points, the front and the starred recommendation
        names = page.locator("#fig-pareto .legendtext").all_text_contents()
        assert f"recommended trade-off (trial {pareto['recommended']})" in names
        # one stacked bar per Pareto member and component
        members = len(pareto["members"])
        bars = page.locator("#fig-front-composition .barlayer .point")
        components = len(done.spec.space.components)
        assert bars.count() == members * components
    finally:
        page.close()

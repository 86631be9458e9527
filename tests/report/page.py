"""Read a report page back: its embedded JSON and its tables (tests only)."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from typing import Any


class Page(HTMLParser):
    """Script elements by id, script `src`/link `href` attributes, table rows."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.scripts: dict[str, str] = {}
        self.sources: list[str] = []
        self.rows: dict[str, list[dict[str, Any]]] = {}
        self._script: str | None = None
        self._table: str | None = None
        self._row: dict[str, Any] | None = None
        self._cell: dict[str, Any] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        for key in ("src", "href"):
            if a.get(key):
                self.sources.append(str(a[key]))
        if tag == "script":
            self._script = a.get("id") or ""
            self.scripts.setdefault(self._script, "")
        elif tag == "table":
            self._table = a.get("id") or ""
            self.rows[self._table] = []
        elif tag == "tr" and self._table is not None:
            self._row = {"attrs": a, "cells": []}
        elif tag in ("td", "th") and self._row is not None:
            self._cell = {"attrs": a, "text": ""}

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script = None
        elif tag == "table":
            self._table = None
        elif tag == "tr" and self._row is not None and self._table is not None:
            self.rows[self._table].append(self._row)
            self._row = None
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row["cells"].append(self._cell)
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self.scripts[self._script] += data
        if self._cell is not None:
            self._cell["text"] += data

    def json(self, element_id: str) -> Any:
        return json.loads(self.scripts[element_id])

    def figure(self, key: str) -> dict[str, Any]:
        return self.json(f"fig-{key}-json")

    def trace(self, key: str, name: str) -> dict[str, Any]:
        traces = [t for t in self.figure(key)["data"] if t.get("name") == name]
        assert len(traces) == 1, [t.get("name") for t in self.figure(key)["data"]]
        return traces[0]

    def data_rows(self, table: str, attribute: str) -> list[dict[str, Any]]:
        """Body rows of *table* (those carrying *attribute*)."""
        return [r for r in self.rows[table] if attribute in r["attrs"]]

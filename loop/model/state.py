"""Fitted hyperparameters as a plain JSON document, and back.

What the engine keeps between two fits (the raw hyperparameters of its outcome
and success models, `loop.model.surrogate.hyperparameters`) is stored with each
proposal round, so a rebuilt engine (`loop resume`, another machine) starts its
next fit from exactly where the running engine would have, and `loop report`
can reuse the fit instead of repeating it. Plain numbers with their shapes, never
pickles: a database must not execute what it stores. JSON keeps every float64
exactly (shortest round-trip repr).
"""

from __future__ import annotations

from typing import Any

#: Version of the document layout; a document of another version is ignored
#: (the next fit is cold), never misread.
VERSION = 1


def to_document(models: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """`{"outcomes": {name: tensor}, ...}` as `{"version", "models": {...}}`."""
    return {
        "version": VERSION,
        "models": {
            model: {
                name: {
                    "shape": list(tensor.shape),
                    "values": [float(v) for v in tensor.reshape(-1).tolist()],
                }
                for name, tensor in params.items()
            }
            for model, params in models.items()
        },
    }


def from_document(doc: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The tensors of a stored document; empty for none, another version or damage."""
    import torch

    if not doc or doc.get("version") != VERSION:
        return {}
    out: dict[str, dict[str, Any]] = {}
    try:
        for model, params in doc["models"].items():
            out[model] = {
                name: torch.tensor(p["values"], dtype=torch.double).reshape(p["shape"])
                for name, p in params.items()
            }
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError):
        return {}  # a damaged document only costs a cold fit
    return out

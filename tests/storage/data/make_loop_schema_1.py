"""Make loop-schema-1.db: a database at the first schema (revision 0001) with a
small realistic robot campaign in it, written with plain SQL.

It stands for what loop 0.1.0 left on users' disks before the driver lease was
added. Run once and commit the result; regenerate only to add cases (the file
must stay as an old loop made it, so never through today's Store):

    .venv/bin/python tests/storage/data/make_loop_schema_1.py tests/storage/data/loop-schema-1.db
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import sys
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
import yaml

from loop.spec import validate
from loop.storage.migrations import migrate

ROOT = Path(__file__).resolve().parents[3]
T0 = datetime(2026, 11, 20, 8, 30, 0, 125000)  # UTC, stored naive like loop does


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


SPEC = validate(
    yaml.safe_load((ROOT / "campaigns" / "electrolyte.yaml").read_text())
).model_dump(mode="json")
MODEL = {
    "model": "SingleTaskGP",
    "kernel": "matern52",
    "n_train": 3,
    "fit_seconds": 0.2486,
    "lengthscales": [[0.512797, 0.9031, 0.810469, 0.336021]],
    "noise": [0.00666318],
    "inputs": ["EC", "EMC", "DMC", "LiPF6_molality"],
    "outputs": ["conductivity"],
    "propose_seconds": 5.4444,
}
TOKEN = "loop_3f9a1c2e_not-a-real-secret-only-its-hash-is-stored"


def trial(n: int, **row: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": n,
        "campaign_id": 1,
        "attempt": 1,
        "acquisition_value": None,
        "predicted_mean": {},
        "predicted_sd": {},
        "failure_reason": None,
        "lease_expires_at": None,
        "claimed_by_key": None,
        "started_at": None,
    }
    return {**base, **row}


TRIALS = [
    trial(
        1,
        iteration=0,
        status="completed",
        composition={
            "EC": 0.23991878610104322,
            "EMC": 0.3899538075551391,
            "DMC": 0.37012740634381774,
        },
        parameters={"LiPF6_molality": 1.5973240030929445},
        phase="initial",
        strategy="botorch",
        seed=996108454,
        provenance={"propose_seconds": 1.0326},
        created_at=at(1),
        updated_at=at(2),
    ),
    trial(
        2,
        iteration=0,
        status="completed",
        composition={
            "EC": 0.15118515370413663,
            "EMC": 0.641687782946974,
            "DMC": 0.20712706334888936,
        },
        parameters={"LiPF6_molality": 0.38186392597854135},
        phase="initial",
        strategy="botorch",
        seed=996108454,
        provenance={"propose_seconds": 1.0326},
        created_at=at(1),
        updated_at=at(3),
    ),
    trial(
        3,
        iteration=1,
        status="completed",
        attempt=2,
        composition={"EC": 0.3956, "EMC": 0.09993, "DMC": 0.50447},
        parameters={"LiPF6_molality": 0.9674493059515952},
        phase="model",
        strategy="botorch",
        acquisition_value=-0.881399927157417,
        predicted_mean={"conductivity": 11.577034678777395},
        predicted_sd={"conductivity": 1.270688215917667},
        seed=418378373,
        provenance=MODEL,
        claimed_by_key=1,
        lease_expires_at=at(700),
        started_at=at(130),
        created_at=at(10),
        updated_at=at(900),
    ),
    trial(
        4,
        iteration=1,
        status="failed",
        attempt=3,
        composition={"EC": 0.5, "EMC": 0.25, "DMC": 0.25},
        parameters={"LiPF6_molality": 2.4},
        phase="model",
        strategy="botorch",
        acquisition_value=-1.69071818462291,
        predicted_mean={"conductivity": 10.887747988628734},
        predicted_sd={"conductivity": 1.535628893108385},
        seed=418378373,
        provenance=MODEL,
        failure_reason="salt did not dissolve (precipitate at 2.4 mol/kg)",
        created_at=at(10),
        updated_at=at(400),
    ),
    trial(
        5,
        iteration=2,
        status="claimed",
        composition={"EC": 0.3, "EMC": 0.3, "DMC": 0.4},
        parameters={"LiPF6_molality": 1.1},
        phase="model",
        strategy="botorch",
        acquisition_value=-0.5,
        predicted_mean={"conductivity": 11.2},
        predicted_sd={"conductivity": 0.9},
        seed=77,
        provenance={**MODEL, "n_train": 4},
        claimed_by_key=1,
        lease_expires_at=at(1600),
        created_at=at(1000),
        updated_at=at(1010),
    ),
    trial(
        6,
        iteration=2,
        status="pending",
        composition={"EC": 0.1, "EMC": 0.8, "DMC": 0.1},
        parameters={"LiPF6_molality": 0.2},
        phase="model",
        strategy="botorch",
        acquisition_value=-2.25,
        predicted_mean={"conductivity": 7.5},
        predicted_sd={"conductivity": 2.0},
        seed=77,
        provenance={**MODEL, "n_train": 4},
        created_at=at(1000),
        updated_at=at(1000),
    ),
]
BODY = {
    "attempt": 2,
    "values": {"conductivity": 11.7922},
    "units": {"conductivity": "mS/cm"},
    "metadata": {"operator": "ana", "cell": "C-17", "temperature_K": 298.15},
}
MEASUREMENTS = [
    {
        "id": 1,
        "trial_id": 1,
        "attempt": 1,
        "values": {"conductivity": 8.834572002086935},
        "units": {"conductivity": "mS/cm"},
        "metadata": {"function": "electrolyte", "noise": 0.05},
        "source": "adapter:simulator",
        "late": False,
        "received_at": at(2),
    },
    {
        "id": 2,
        "trial_id": 2,
        "attempt": 1,
        "values": {"conductivity": 8.601591700957202},
        "units": {"conductivity": "mS/cm"},
        "metadata": {"function": "electrolyte", "noise": 0.05},
        "source": "adapter:simulator",
        "late": False,
        "received_at": at(3),
    },
    {
        "id": 3,
        "trial_id": 3,
        "attempt": 2,
        "values": BODY["values"],
        "units": BODY["units"],
        "metadata": BODY["metadata"],
        "source": "robot-key:1",
        "late": True,
        "received_at": at(900),
    },
]
EVENTS = [
    # trial, from, to, attempt, reason, time
    (1, None, "pending", 1, None, 1),
    (1, "pending", "claimed", 1, None, 1.5),
    (1, "claimed", "completed", 1, None, 2),
    (2, None, "pending", 1, None, 1),
    (2, "pending", "claimed", 1, None, 2.5),
    (2, "claimed", "completed", 1, None, 3),
    (3, None, "pending", 1, None, 10),
    (3, "pending", "claimed", 1, None, 20),
    (3, "claimed", "pending", 2, "lease expired before start", 100),
    (3, "pending", "claimed", 2, None, 110),
    (3, "claimed", "started", 2, None, 130),
    (3, "started", "completed", 2, None, 900),
    (4, None, "pending", 1, None, 10),
    (4, "pending", "claimed", 1, None, 200),
    (4, "claimed", "pending", 2, "salt did not dissolve", 250),
    (4, "pending", "claimed", 2, None, 260),
    (4, "claimed", "pending", 3, "salt did not dissolve", 300),
    (4, "pending", "claimed", 3, None, 310),
    (
        4,
        "claimed",
        "failed",
        3,
        "salt did not dissolve (precipitate at 2.4 mol/kg)",
        400,
    ),
    (5, None, "pending", 1, None, 1000),
    (5, "pending", "claimed", 1, None, 1010),
    (6, None, "pending", 1, None, 1000),
]


def make(path: Path) -> None:
    if path.exists():
        raise SystemExit(f"{path} exists; remove it first")
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        migrate(conn, "0001")
        meta = sa.MetaData()
        meta.reflect(conn)
        t = meta.tables
        conn.execute(
            t["campaign"].insert(),
            {
                "id": 1,
                "name": SPEC["name"],
                "status": "active",
                "spec": SPEC,
                "created_at": at(0),
                "updated_at": at(1000),
            },
        )
        conn.execute(
            t["robot_key"].insert(),
            {
                "id": 1,
                "campaign_id": 1,
                "name": "station-1",
                "prefix": "3f9a1c2e",
                "token_sha256": hashlib.sha256(TOKEN.encode()).hexdigest(),
                "scopes": ["robot:claim", "robot:report", "campaign:read"],
                "created_at": at(5),
                "revoked_at": None,
                "last_used_at": at(1010),
            },
        )
        conn.execute(t["trial"].insert(), TRIALS)
        conn.execute(t["measurement"].insert(), MEASUREMENTS)
        conn.execute(
            t["trial_event"].insert(),
            [
                {
                    "trial_id": n,
                    "from_status": a,
                    "to_status": b,
                    "attempt": k,
                    "reason": r,
                    "at": at(s),
                }
                for n, a, b, k, r, s in EVENTS
            ],
        )
        body = json.dumps(BODY, sort_keys=True)
        digest = hashlib.sha256(body.encode()).hexdigest()
        key = "7d0b6f2e-4b8e-4f0c-9a51-2f1d3c6b8e11"
        conn.execute(
            t["submission"].insert(),
            {
                "id": 1,
                "campaign_id": 1,
                "trial_id": 3,
                "robot_key_id": 1,
                "route": "measurements",
                "idempotency_key": key,
                "body_sha256": digest,
                "body": body,
                "outcome": "late",
                "status_code": 200,
                "source_ip": "10.0.4.17",
                "received_at": at(900),
            },
        )
        conn.execute(
            t["idempotency"].insert(),
            {
                "campaign_id": 1,
                "key": key,
                "route": "measurements",
                "trial_id": 3,
                "body_sha256": digest,
                "status_code": 200,
                "response": {
                    "trial_id": 3,
                    "attempt": 2,
                    "status": "completed",
                    "late": True,
                    "values": BODY["values"],
                },
                "created_at": at(900),
            },
        )
    engine.dispose()
    # a single self-contained file, with small pages to keep it small
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("PRAGMA journal_mode=DELETE")
    raw.execute("PRAGMA page_size=1024")
    raw.execute("VACUUM")
    raw.close()


if __name__ == "__main__":
    make(Path(sys.argv[1]))

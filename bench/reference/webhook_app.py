"""The spec's webhook receiver on the spec's own stack: FastAPI on uvicorn, an SQLite inbox.

The reference bench/webhooks compares `crmsync serve` with. POST /webhooks/{crm_type}:
  - reads the raw body and checks `X-Signature: sha256=<hex HMAC-SHA256(secret, body)>` in
    constant time; a missing or wrong signature is a 401;
  - stores (crm_type, received_at, body) in the SQLite table `inbox` (WAL, synchronous=NORMAL,
    autocommit: the row is committed before the answer), one connection per worker process;
  - answers 200 {"status": "queued"}.

Environment: WEBHOOK_SECRET (default "bench-secret"), INBOX_DB (default inbox.db). Run from this
folder: uvicorn webhook_app:app --host 127.0.0.1 --port 18080 [--workers 2]
            [--loop uvloop --http httptools]
"""
import hashlib
import hmac
import os
import sqlite3
from datetime import datetime, timezone

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

SECRET = os.environ.get("WEBHOOK_SECRET", "bench-secret").encode()
INBOX_DB = os.environ.get("INBOX_DB", "inbox.db")


def open_inbox():
    con = sqlite3.connect(INBOX_DB, isolation_level=None, timeout=30.0)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute("""CREATE TABLE IF NOT EXISTS inbox (
        id INTEGER PRIMARY KEY,
        crm_type TEXT NOT NULL,
        received_at TEXT NOT NULL,
        body BLOB NOT NULL)""")
    return con


app = FastAPI()
inbox = None  # this worker process's connection, opened by its first request


def signed(body: bytes, header: str) -> bool:
    expected = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(header.encode("latin-1"), expected.encode())


@app.post("/webhooks/{crm_type}")
async def receive(crm_type: str, request: Request):
    body = await request.body()
    if not signed(body, request.headers.get("x-signature", "")):
        return JSONResponse({"detail": "invalid signature"}, status_code=401)
    now = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
    global inbox
    if inbox is None:
        inbox = open_inbox()
    inbox.execute(
        "INSERT INTO inbox (crm_type, received_at, body) VALUES (?, ?, ?)", (crm_type, now, body))
    return {"status": "queued"}

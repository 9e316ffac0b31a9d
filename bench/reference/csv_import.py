#!/usr/bin/python3
"""The spec's CSV upload on the spec's own stack (pandas, phonenumbers, hashlib, sqlite3).

The reference bench/csv_import compares crmsync with: the import as a Python developer would write
it with that stack, column-wise with pandas wherever pandas can, libphonenumber once per distinct
phone spelling.

  csv_import.py FILE --db PATH --business ID [--tz Europe/Moscow] [--region RU]
                [--errors-file PATH]

Prints one JSON line {"rows", "imported", "errors", "duplicates", "seconds"}; "seconds" is the
time inside the process from reading the file to the commit.

Rules (the spec's, the same as crmsync's import-csv on bench/sales_csv.py files):
  - required columns date, customer_phone, amount; description optional; an `id` column, when
    present and not empty, is the sale's external id;
  - date `YYYY-MM-DD HH:MM:SS` in the business's time zone (--tz); times that do not exist or
    exist twice there are invalid;
  - customer_phone: any spelling libphonenumber parses as a valid number (default region
    --region), stored as E.164;
  - amount: a positive decimal with at most two decimals after '.' or ',', digits either
    ungrouped or grouped by thousands with a space (also U+00A0, U+202F), with ',' (then the
    decimal separator is '.') or with '.' (then it is ',');
  - every bad row is skipped and reported as `Row N: reason[; reason]`, N counting data records
    from 1;
  - a sale without an id is identified by sha256(UTC time + E.164 phone + kopecks + business),
    unique per business: inserting a known sale again is a duplicate, not an error, and a
    second import of the same file stores nothing. duplicates = good rows - rows stored.
"""
import argparse
import hashlib
import json
import sqlite3
import sys
import time
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import phonenumbers

SPACES = "[ \u00a0\u202f]"
AMOUNT = ("(?:"
          r"\d+"                               # 1500
          rf"|\d{{1,3}}(?:{SPACES}\d{{3}})+"   # 1 500
          r"|\d{1,3}(?:,\d{3})+(?=\.|$)"       # 1,500 (then '.' decimals)
          r"|\d{1,3}(?:\.\d{3})+(?=,|$)"       # 1.500 (then ',' decimals)
          r")(?:[.,]\d{1,2})?")
DECIMALS = r"[.,](\d{1,2})$"
DATE = r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}"
MAX_ROUBLE_DIGITS = 15  # kopecks stay within int64

SCHEMA = """CREATE TABLE IF NOT EXISTS transactions (
    id              INTEGER PRIMARY KEY,
    business_id     TEXT NOT NULL,
    external_id     TEXT NOT NULL,
    amount_kopecks  INTEGER NOT NULL,
    phone_e164      TEXT NOT NULL,
    occurred_at_utc TEXT NOT NULL,
    description     TEXT,
    created_at      TEXT NOT NULL,
    UNIQUE (business_id, external_id))"""
INSERT = """INSERT OR IGNORE INTO transactions (business_id, external_id, amount_kopecks,
    phone_e164, occurred_at_utc, description, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)"""


def utc_times(column, tz):
    """UTC 'YYYY-MM-DDTHH:MM:SSZ' strings and a mask of the rows whose local time is valid."""
    text = column.str.strip()
    shaped = text.str.fullmatch(DATE)  # to_datetime alone would accept other ISO shapes
    local = pd.to_datetime(text.where(shaped), format="%Y-%m-%d %H:%M:%S", errors="coerce")
    utc = local.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC")
    valid = utc.notna().to_numpy()
    seconds = utc.dt.tz_localize(None).to_numpy(dtype="datetime64[s]")
    return np.datetime_as_string(seconds, unit="s", timezone="UTC"), valid


def kopecks(column):
    """Amounts in kopecks (0 where unreadable) and a mask of the well-formed ones."""
    text = column.str.strip()
    formed = text.str.fullmatch(AMOUNT).fillna(False).to_numpy(dtype=bool)
    result = np.zeros(len(text), dtype=np.int64)
    rows = np.flatnonzero(formed)
    if len(rows):
        good = text.iloc[rows]
        cents = good.str.extract(DECIMALS, expand=False).fillna("0").str.ljust(2, "0")
        roubles = good.str.replace(DECIMALS, "", regex=True).str.replace(r"\D", "", regex=True)
        fits = (roubles.str.len() <= MAX_ROUBLE_DIGITS).to_numpy()
        formed[rows[~fits]] = False
        result[rows[fits]] = (roubles[fits].astype(np.int64).to_numpy() * 100
                              + cents[fits].astype(np.int64).to_numpy())
    return result, formed


def e164_phones(column, region):
    """E.164 of each cell (None when not a valid number); libphonenumber once per spelling."""
    known = {}
    for spelling in pd.unique(column):
        number = None
        if spelling:
            try:
                parsed = phonenumbers.parse(spelling, region)
                if phonenumbers.is_valid_number(parsed):
                    number = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
            except phonenumbers.NumberParseException:
                pass
        known[spelling] = number
    return column.map(known).to_numpy(dtype=object)


def reasons(i, time_ok, phone_ok, amount_ok, amount_formed, empty):
    found = []
    if not time_ok[i]:
        found.append("Missing date" if empty["date"][i] else "Invalid date format")
    if not phone_ok[i]:
        found.append("Missing phone" if empty["customer_phone"][i] else "Invalid phone format")
    if not amount_ok[i]:
        if empty["amount"][i]:
            found.append("Missing amount")
        elif amount_formed[i]:
            found.append("Amount must be positive")
        else:
            found.append("Invalid amount format")
    return "; ".join(found)


def import_file(path, db, business, tz, region):
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    absent = sorted({"date", "customer_phone", "amount"} - set(frame.columns))
    if absent:
        raise SystemExit(f"{path}: no column {', '.join(absent)}")
    phones_raw = frame["customer_phone"].str.strip()
    times, time_ok = utc_times(frame["date"], tz)
    amounts, amount_formed = kopecks(frame["amount"])
    amount_ok = amount_formed & (amounts > 0)
    phones = e164_phones(phones_raw, region)
    phone_ok = pd.notna(phones)
    good = time_ok & phone_ok & amount_ok

    empty = {"date": (frame["date"].str.strip() == "").to_numpy(),
             "customer_phone": (phones_raw == "").to_numpy(),
             "amount": (frame["amount"].str.strip() == "").to_numpy()}
    errors = [f"Row {i + 1}: {reasons(i, time_ok, phone_ok, amount_ok, amount_formed, empty)}"
              for i in np.flatnonzero(~good)]

    rows = np.flatnonzero(good)
    sale_times = times[rows].tolist()
    sale_phones = phones[rows].tolist()
    sale_kopecks = amounts[rows].tolist()
    ids = [hashlib.sha256(f"{t}{p}{k}{business}".encode()).hexdigest()
           for t, p, k in zip(sale_times, sale_phones, sale_kopecks)]
    if "id" in frame.columns:
        own = frame["id"].str.strip().to_numpy()[rows].tolist()
        ids = [mine or derived for mine, derived in zip(own, ids)]
    if "description" in frame.columns:
        descriptions = [d or None for d in frame["description"].to_numpy()[rows].tolist()]
    else:
        descriptions = [None] * len(rows)
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    con = sqlite3.connect(db, isolation_level=None)
    try:
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")
        con.execute("PRAGMA cache_size=-65536")  # the random-key unique index needs room
        con.execute(SCHEMA)
        before = con.total_changes
        con.execute("BEGIN")
        con.executemany(INSERT, ((business, i, k, p, t, d, now) for i, k, p, t, d in
                                 zip(ids, sale_kopecks, sale_phones, sale_times, descriptions)))
        con.execute("COMMIT")
        stored = con.total_changes - before
    finally:
        con.close()
    counts = {"rows": len(frame), "imported": stored, "errors": len(errors),
              "duplicates": len(rows) - stored}
    return counts, errors


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file")
    parser.add_argument("--db", required=True)
    parser.add_argument("--business", required=True)
    parser.add_argument("--tz", default="Europe/Moscow")
    parser.add_argument("--region", default="RU")
    parser.add_argument("--errors-file")
    args = parser.parse_args()
    started = time.perf_counter()
    counts, errors = import_file(args.file, args.db, args.business, args.tz, args.region)
    counts["seconds"] = round(time.perf_counter() - started, 3)
    if args.errors_file:
        with open(args.errors_file, "w", encoding="utf-8") as report:
            report.writelines(line + "\n" for line in errors)
    print(json.dumps(counts))


if __name__ == "__main__":
    sys.exit(main())

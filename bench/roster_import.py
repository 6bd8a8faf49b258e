"""Roster import speed: generate a school's roster of N rows, import it into a fresh database, print figures.

    .venv/bin/python bench/roster_import.py [--rows 50000] [--database-url URL]

Prints rows per second for a first import (every account new), a re-import (nothing changes) and a
next-year import (everyone moves class). Not part of the tests: it measures, it asserts nothing.
"""
from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from datetime import date
from pathlib import Path

GIVEN = ["Lotte", "Noah", "Mila", "Elias", "Anaïs", "Liam", "Zoë", "Louis", "Emma", "Arthur", "Nora", "Jules"]
FAMILY = ["Peeters", "Janssens", "Maes", "Jacobs", "Mertens", "Willems", "Claes", "Goossens", "Wouters", "Dubois"]


def roster(rows: int, year_offset: int = 0, seed: int = 7) -> bytes:
    rng = random.Random(seed)
    lines = ["extern_id;voornaam;familienaam;geboortedatum;rol;klas;leerjaar;e-mail;ouder_e-mail"]
    for n in range(rows):
        grade = 1 + n % 6
        born = date(2020 - grade, 1 + n % 12, 1 + n % 28)
        given, family = rng.choice(GIVEN), f"{rng.choice(FAMILY)}{n}"
        lines.append(f"{n};{given};{family};{born.isoformat()};leerling;{grade + year_offset}{'ABCD'[n % 4]};"
                     f"{grade + year_offset};;ouder{n}@example.be")
    return ("\n".join(lines) + "\n").encode()


def timed(importer, school: str, raw: bytes, today: date) -> dict:
    started = time.perf_counter()
    report = importer.run(school, raw, today=today)
    seconds = time.perf_counter() - started
    rows = report.rows
    return {"rows": rows, "seconds": round(seconds, 2), "rows_per_second": round(rows / seconds),
            "created": report.created, "moved": report.moved, "unchanged": report.unchanged}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    from idp.accounts import AccountService
    from idp.crypto import Passwords
    from idp.db import Database
    from idp.roster_import import RosterImporter
    from migrations import upgrade

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        db = Database(url)
        AccountService(db, Passwords(1024, 1, 1)).create_school("900001", "Benchmarkschool")
        importer, today = RosterImporter(db), date.today()
        results = {
            "first import": timed(importer, "900001", roster(args.rows), today),
            "same file again": timed(importer, "900001", roster(args.rows), today),
            "next school year": timed(importer, "900001", roster(args.rows, 1), date(today.year + 1, 9, 1)),
        }
        db.engine.dispose()
    print(json.dumps({"database": url.split(":")[0], "results": results}, indent=2))
    for name, figures in results.items():
        print(f"{name:18} {figures['rows']:>7} rows in {figures['seconds']:>6} s "
              f"= {figures['rows_per_second']:>6} rows/s")


if __name__ == "__main__":
    main()

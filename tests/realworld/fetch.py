"""Fetch the real-world mail corpus into tests/realworld/data/ (not committed).

The messages come from other projects' public test suites, obtained only through the
package registries this project uses (Debian's archive and PyPI), at the versions
listed in SOURCES.md beside this file. Only files that are RFC 822 messages are kept
(a header block with known header names); mbox files are left out. Each source is
fetched on its own: one that cannot be had is reported and the rest carry on.

    python tests/realworld/fetch.py [--dest DIR] [--quiet]

Exit 0 when at least MIN_MESSAGES distinct messages are in place.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEST = HERE / "data"
MIN_MESSAGES = 500

#: Debian binary packages: (package, directories inside it holding messages).
DEBS = [
    ("golang-github-jhillyerd-enmime-dev", ["testdata/mail", "testdata/low-quality"]),
    ("python3-flufl.bounce", ["flufl/bounce/tests/data"]),
    ("mailman3", ["tests/data", "chains/tests"]),
    ("python3-django-hyperkitty", ["hyperkitty/tests/testdata"]),
    ("python3-dkim", ["dkim/tests/data"]),
    ("python3-authheaders", ["authheaders/test"]),
    ("spamassassin", ["spamassassin/examples"]),
]
#: PyPI source distributions: (requirement, directories inside the sdist).
SDISTS = [
    ("mail-parser==4.8.0", ["tests/mails"]),
    ("talon==1.4.4", ["tests/fixtures"]),
    ("django-mailbox==4.10.1", ["django_mailbox/tests/messages"]),
    ("mailbits==0.2.3", ["test/data/emails"]),
]
#: Debian source packages: (package, directories inside the upstream tarball).
DEBSRC = [
    ("notmuch", ["test/corpora"]),
    ("libmail-deliverystatus-bounceparser-perl", ["t/corpus"]),
    ("php-horde-mime", ["test/Horde/Mime/fixtures"]),
    ("libemail-simple-perl", ["t/test-mails"]),
]
DEB_SRC_LINE = (
    "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
    "http://deb.debian.org/debian bookworm main\n"
)

_HDR = re.compile(rb"^([!-9;-~]+):[ \t]?")
_KNOWN = {
    b"from", b"to", b"subject", b"date", b"message-id", b"received", b"mime-version",
    b"content-type", b"return-path", b"cc", b"delivered-to", b"reply-to", b"in-reply-to",
    b"references", b"x-mailer", b"sender", b"dkim-signature", b"content-transfer-encoding",
    b"x-original-to", b"list-id", b"authentication-results",
}  # fmt: skip
_SKIP = (".py", ".pyc", ".go", ".rb", ".js", ".php", ".html", ".json", ".md", ".rst", ".sh")


def is_message(data: bytes) -> bool:
    """An RFC 822 message (not an mbox, not a MIME fragment, not code)."""
    if not data or b"\0" in data[:4096]:
        return False
    lines = data.split(b"\n")
    i = 0
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i < len(lines) and lines[i].startswith(b"From "):
        if len(re.findall(rb"(?m)^From \S+.*\d\d:\d\d", data)) > 1:
            return False  # an mbox of many messages
        i += 1
    names: list[bytes] = []
    for line in lines[i : i + 300]:
        line = line.rstrip(b"\r")
        if not line:
            break
        if line[:1] in (b" ", b"\t"):
            continue
        match = _HDR.match(line)
        if not match:
            break
        names.append(match.group(1).lower())
    known = len(set(names) & _KNOWN)
    return known >= 2 or (known >= 1 and bool(names) and names[0] in _KNOWN)


def _harvest(root: Path, subdirs: list[str], source: str, dest: Path) -> int:
    """Copy the messages under ``root``'s ``subdirs`` (matched as path suffixes)."""
    kept = 0
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.is_symlink() or path.suffix.lower() in _SKIP:
            continue
        rel = path.relative_to(root).as_posix()
        if not any(f"/{d}/" in f"/{rel}" for d in subdirs):
            continue
        data = path.read_bytes()
        if not is_message(data):
            continue
        digest = hashlib.sha256(data).hexdigest()[:16]
        target = dest / source / f"{digest}-{path.name}"[:120]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        kept += 1
    return kept


def _run(cmd: list[str], cwd: Path, timeout: float = 300) -> None:
    subprocess.run(cmd, cwd=cwd, check=True, timeout=timeout, capture_output=True)


def _debs(work: Path, dest: Path, log: list[str]) -> None:
    for package, subdirs in DEBS:
        try:
            _run(["apt-get", "download", package], work)
            (deb,) = work.glob(f"{package}_*.deb")
            out = work / package
            _run(["dpkg-deb", "-x", str(deb), str(out)], work)
            log.append(f"deb {deb.name}: {_harvest(out, subdirs, package, dest)}")
        except Exception as exc:  # noqa: BLE001 - one source missing never stops the rest
            log.append(f"deb {package}: not fetched ({type(exc).__name__})")


def _sdists(work: Path, dest: Path, log: list[str]) -> None:
    for requirement, subdirs in SDISTS:
        name = requirement.split("==")[0]
        try:
            target = work / f"sdist-{name}"
            _run(
                [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary",
                 ":all:", "-d", str(target), requirement],
                work,
            )  # fmt: skip
            (archive,) = [p for p in target.iterdir() if p.name.endswith((".tar.gz", ".zip"))]
            out = target / "x"
            shutil.unpack_archive(str(archive), str(out))
            log.append(f"sdist {archive.name}: {_harvest(out, subdirs, name, dest)}")
        except Exception as exc:  # noqa: BLE001
            log.append(f"sdist {requirement}: not fetched ({type(exc).__name__})")


def _debsrc(work: Path, dest: Path, log: list[str]) -> None:
    apt = work / "apt"
    (apt / "lists" / "partial").mkdir(parents=True)
    (apt / "cache" / "archives" / "partial").mkdir(parents=True)
    (apt / "sources.list").write_text(DEB_SRC_LINE)
    opts = [
        f"-oDir::Etc::SourceList={apt / 'sources.list'}",
        "-oDir::Etc::SourceParts=/nonexistent",
        f"-oDir::State::Lists={apt / 'lists'}",
        f"-oDir::Cache={apt / 'cache'}",
    ]
    try:
        _run(["apt-get", *opts, "update"], work)
    except Exception as exc:  # noqa: BLE001
        log.append(f"debsrc: no source index ({type(exc).__name__})")
        return
    for package, subdirs in DEBSRC:
        try:
            where = work / f"src-{package}"
            where.mkdir()
            # Only the upstream tarball is needed; a missing Debian part is no failure.
            subprocess.run(
                ["apt-get", *opts, "source", "--download-only", package],
                cwd=where,
                timeout=300,
                capture_output=True,
            )
            (orig,) = [p for p in where.iterdir() if ".orig.tar." in p.name]
            out = where / "x"
            with tarfile.open(orig) as tar:
                wanted = [
                    m
                    for m in tar.getmembers()
                    if m.isfile() and any(f"/{d}/" in f"/{m.name}" for d in subdirs)
                ]
                tar.extractall(out, members=wanted, filter="data")
            log.append(f"debsrc {orig.name}: {_harvest(out, subdirs, package, dest)}")
        except Exception as exc:  # noqa: BLE001
            log.append(f"debsrc {package}: not fetched ({type(exc).__name__})")


def _cpython(dest: Path, log: list[str]) -> None:
    base = Path(sysconfig.get_paths()["stdlib"]) / "test" / "test_email"
    if base.is_dir():
        log.append(f"cpython {sys.version.split()[0]}: {_harvest(base, ['data'], 'cpython', dest)}")
    else:
        log.append("cpython: test_email data not installed")


def count(dest: Path) -> int:
    """Distinct messages (by content) under ``dest``."""
    digests = {hashlib.sha256(p.read_bytes()).digest() for p in dest.rglob("*") if p.is_file()}
    return len(digests)


def fetch(dest: Path = DEST, *, quiet: bool = False) -> int:
    """Fetch every source into ``dest`` (replacing it); the number of distinct messages."""
    tmp = Path(tempfile.mkdtemp(prefix="omnitui-corpus-"))
    staging = tmp / "data"
    staging.mkdir()
    log: list[str] = []
    try:
        if shutil.which("apt-get") and shutil.which("dpkg-deb"):
            _debs(tmp, staging, log)
            _debsrc(tmp, staging, log)
        else:
            log.append("apt-get not found: Debian sources skipped")
        _sdists(tmp, staging, log)
        _cpython(staging, log)
        # Copied beside ``dest`` first, then renamed: a reader never sees half a corpus.
        fresh = dest.with_name(dest.name + ".new")
        if fresh.exists():
            shutil.rmtree(fresh)
        shutil.copytree(staging, fresh)
        if dest.exists():
            shutil.rmtree(dest)
        fresh.rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    total = count(dest)
    if not quiet:
        for line in log:
            print(line, file=sys.stderr)
        print(f"{total} distinct messages in {dest}", file=sys.stderr)
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=DEST)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    os.umask(0o022)
    return 0 if fetch(args.dest, quiet=args.quiet) >= MIN_MESSAGES else 1


if __name__ == "__main__":
    sys.exit(main())

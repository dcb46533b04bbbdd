"""The name and content type of a file sent with a reply, made safe for any channel: a
name is never a path, a header break or text that cannot be encoded; a type is used
only when well-formed (RFC 2045 tokens)."""

from __future__ import annotations

import re
import unicodedata

#: The longest name sent, in characters.
MAX_NAME = 200
#: What a content type must look like to be used as given.
_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")
FALLBACK_TYPE = "application/octet-stream"


def file_name(name: str) -> str:
    """``name`` without a path, control characters, line breaks or unencodable
    characters (lone surrogates of an undecodable file name); ``attachment`` when
    nothing is left."""
    name = "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in name)
    name = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    kept = (
        " " if ch.isspace() else ch
        for ch in name
        if unicodedata.category(ch)[0] != "C" and unicodedata.category(ch) not in ("Zl", "Zp")
    )
    name = "".join(kept).strip(" .")
    return name[:MAX_NAME].strip(" ") or "attachment"


def mime_type(given: str) -> str:
    """The given content type without parameters, lower case, when well-formed; else
    ``application/octet-stream``."""
    value = given.split(";", 1)[0].strip().lower()
    return value if _TYPE.fullmatch(value) else FALLBACK_TYPE

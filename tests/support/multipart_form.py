"""Read a multipart/form-data request body (RFC 7578) in the API fakes: the form's
text fields and its files, as a server would see them."""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class FormFile:
    """One uploaded file: its field, the name and type the client gave, its bytes."""

    field: str
    filename: str
    content_type: str
    content: bytes


def is_form(request: httpx.Request) -> bool:
    return request.headers.get("Content-Type", "").startswith("multipart/form-data")


def read_form(request: httpx.Request) -> tuple[dict[str, str], list[FormFile]]:
    """The text fields and the files of a multipart/form-data request."""
    match = re.search(r'boundary="?([^";]+)"?', request.headers["Content-Type"])
    assert match, "multipart/form-data without a boundary"
    delimiter = b"--" + match.group(1).encode()
    body = request.read()
    fields: dict[str, str] = {}
    files: list[FormFile] = []
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break  # the closing delimiter
        head, _, content = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        content = content.removesuffix(b"\r\n")
        headers = {}
        for line in head.decode("utf-8").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        name = re.search(r'\bname="([^"]*)"', disposition)
        filename = re.search(r'\bfilename="([^"]*)"', disposition)
        assert name, "a form part without a name"
        if filename is None:
            fields[name.group(1)] = content.decode("utf-8")
        else:
            files.append(
                FormFile(
                    name.group(1),
                    filename.group(1),
                    headers.get("content-type", "application/octet-stream"),
                    content,
                )
            )
    return fields, files

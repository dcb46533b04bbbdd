"""A fake WeCom Customer Service API (企业微信 · 微信客服) for an ``httpx.MockTransport``,
and ``kf/sync_msg`` items shaped as the official documentation shows them.

Shapes and codes from the official documentation:

- gettoken: https://developer.work.weixin.qq.com/document/path/91039
  (``?corpid&corpsecret`` -> ``access_token``, ``expires_in`` 7200)
- kf/sync_msg: https://developer.work.weixin.qq.com/document/path/94670
  (``cursor``, ``token``, ``limit`` ≤ 1000, ``open_kfid`` -> ``next_cursor``,
  ``has_more``, ``msg_list`` with ``origin`` 3 / 4 / 5, ``msgtype`` and its object,
  events under ``event.event_type``)
- kf/send_msg: https://developer.work.weixin.qq.com/document/path/94677
  (``touser``, ``open_kfid``, ``msgtype`` text -> ``msgid``; 5 messages within 48 h)
- kf/customer/batchget: https://developer.work.weixin.qq.com/document/path/95159
  (``external_userid_list`` of 1–100 -> ``customer_list``, ``invalid_external_userid``)
- kf/account/list: https://developer.work.weixin.qq.com/document/path/94661
- media/get: https://developer.work.weixin.qq.com/document/path/90254
  (the file itself, or a JSON ``errcode``)
- media/upload: https://developer.work.weixin.qq.com/document/path/90389
  (``?access_token&type=image|voice|video|file``, multipart/form-data with the file in
  ``media`` -> ``{"type", "media_id", "created_at"}``; image ≤ 10 MB JPG/PNG, voice
  ≤ 2 MB AMR, video ≤ 10 MB MP4, file ≤ 20 MB, every file over 5 bytes; media ids last
  3 days); kf/send_msg then takes ``msgtype`` image / voice / video / file with
  ``{"media_id"}``
- error codes: https://developer.work.weixin.qq.com/document/path/90313 (-1 busy,
  40001 secret, 40004 media type, 40006 file size, 40009 / 40010 / 40011 image /
  voice / video size, 40007 media id, 40014 / 42001 token, 45009 frequency, 60020 IP,
  95001 / 95002 message count / time limit, 95018 session state)

Every answer is HTTP 200 with ``errcode`` / ``errmsg``, as WeCom answers; errmsg carries
the ``hint`` and ``more info`` tail the real server adds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.support.multipart_form import FormFile, read_form

CORP_ID = "ww0f1e2d3c4b5a6978"
SECRET = "kf-corpsecret-Zx9Qw7Er5Ty3Ui1Op"
OPEN_KFID = "wkAJ2GCAAAZSfhHCt7IFSvLKtMPxyJTw"
CUSTOMER = "wmAJ2GCAAAme1XQRC-NI-q0_ZM9ukoAw"
OTHER = "wmAJ2GCAAAxyKdP4vBqYj2mF8sNeZcLw"
#: media/upload's types and their largest files (bytes).
MEDIA_LIMITS = {"image": 10 << 20, "voice": 2 << 20, "video": 10 << 20, "file": 20 << 20}
#: 2026-12-03 05:00:00 UTC.
T0 = 1796274000


def err(code: int, message: str) -> dict[str, Any]:
    """An error answer as WeCom writes it."""
    return {
        "errcode": code,
        "errmsg": f"{message}, hint: [1796274000_77_3fa1], from ip: 203.0.113.9, "
        f"more info at https://open.work.weixin.qq.com/devtool/query?e={code}",
    }


def answer(body: Any) -> httpx.Response:
    """A JSON answer as a server writes it: ASCII, a lone surrogate as ``\\ud800``."""
    return httpx.Response(
        200, content=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )


def item(n: int, msgtype: str, body: Any, *, user: str = CUSTOMER, origin: int = 3) -> dict:
    """One ``msg_list`` item of the customer (origin 3) or of an agent (origin 5)."""
    return {
        "msgid": f"from_msgid_{n:06d}",
        "open_kfid": OPEN_KFID,
        "external_userid": user,
        "send_time": T0 + n,
        "origin": origin,
        "servicer_userid": "zhangsan" if origin == 5 else "",
        "msgtype": msgtype,
        msgtype: body,
    }


def text(n: int, content: str, *, user: str = CUSTOMER, origin: int = 3) -> dict:
    return item(n, "text", {"content": content}, user=user, origin=origin)


def event(n: int, event_type: str, **fields: Any) -> dict:
    """A system event (origin 4)."""
    return {
        "msgid": f"event_msgid_{n:06d}",
        "send_time": T0 + n,
        "origin": 4,
        "msgtype": "event",
        "event": {"event_type": event_type, "open_kfid": OPEN_KFID, **fields},
    }


@dataclass
class FakeWeCom:
    messages: list[Any] = field(default_factory=list)
    page_size: int = 2
    nicknames: dict[str, str] = field(default_factory=dict)
    media: dict[str, bytes] = field(default_factory=dict)
    token_lifetime: int = 7200
    #: Tokens issued, and those the server now calls expired (42001).
    tokens: list[str] = field(default_factory=list)
    expired: set[str] = field(default_factory=set)
    #: Every request, and the JSON bodies of sync_msg, batchget and send_msg.
    queries: list[httpx.Request] = field(default_factory=list)
    syncs: list[dict] = field(default_factory=list)
    lookups: list[dict] = field(default_factory=list)
    sent: list[dict] = field(default_factory=list)
    #: Files uploaded by media/upload: media_id -> (type, the form's file).
    uploads: dict[str, tuple[str, FormFile]] = field(default_factory=dict)
    #: Answers to give instead, per path, first in first out.
    fail: dict[str, list[Any]] = field(default_factory=dict)
    #: The next sync_msg starts from the beginning again, whatever its cursor.
    replay: bool = False

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.queries.append(request)
        path = request.url.path
        queued = self.fail.get(path)
        if queued:
            given = queued.pop(0)
            return given if isinstance(given, httpx.Response) else answer(given)
        if path == "/cgi-bin/gettoken":
            return answer(self._gettoken(request))
        token = request.url.params.get("access_token", "")
        if token not in self.tokens:
            return answer(err(40014, "invalid access_token"))
        if token in self.expired:
            return answer(err(42001, "access_token expired"))
        if path == "/cgi-bin/media/upload":
            return answer(self._upload(request))
        body = json.loads(request.content) if request.content else {}
        if path == "/cgi-bin/kf/sync_msg":
            return answer(self._sync(body))
        if path == "/cgi-bin/kf/customer/batchget":
            return answer(self._batchget(body))
        if path == "/cgi-bin/kf/send_msg":
            self.sent.append(body)
            if body.get("open_kfid") != OPEN_KFID:
                return answer(err(95000, "invalid open_kfid"))
            kind = body.get("msgtype")
            if kind in MEDIA_LIMITS:
                uploaded = self.uploads.get(body[kind]["media_id"])
                if uploaded is None or uploaded[0] != kind:
                    return answer(err(40007, "invalid media_id"))
            return httpx.Response(
                200, json={"errcode": 0, "errmsg": "ok", "msgid": f"msgout{len(self.sent)}"}
            )
        if path == "/cgi-bin/kf/account/list":
            return httpx.Response(
                200,
                json={
                    "errcode": 0,
                    "errmsg": "ok",
                    "account_list": [
                        {
                            "open_kfid": OPEN_KFID,
                            "name": "售后客服",
                            "avatar": "https://wework.qpic.cn/wwhead/duc2TvpEgSSjibPZlNR6chpx/0",
                            "manage_privilege": True,
                        }
                    ],
                },
            )
        if path == "/cgi-bin/media/get":
            data = self.media.get(request.url.params.get("media_id", ""))
            if data is None:
                return answer(err(40007, "invalid media_id"))
            return httpx.Response(
                200,
                content=data,
                headers={
                    "Content-Type": "image/jpeg",
                    "Content-disposition": 'attachment; filename="photo.jpg"',
                },
            )
        return httpx.Response(404, text="not found")

    def _upload(self, request: httpx.Request) -> dict[str, Any]:
        kind = request.url.params.get("type", "")
        if kind not in MEDIA_LIMITS:
            return err(40004, "invalid media type")
        fields, files = read_form(request)
        assert not fields and [f.field for f in files] == ["media"], "one file, in media"
        (file,) = files
        size = len(file.content)
        if size <= 5:
            return err(40006, "invalid file size")
        if size > MEDIA_LIMITS[kind]:
            code = {"image": 40009, "voice": 40010, "video": 40011}.get(kind, 40006)
            return err(code, f"invalid {kind} size")
        media_id = f"3{kind}_{len(self.uploads) + 1}_MEDIAidPq7Xz"
        self.uploads[media_id] = (kind, file)
        self.media[media_id] = file.content
        return {
            "errcode": 0,
            "errmsg": "",
            "type": kind,
            "media_id": media_id,
            "created_at": "1796274000",
        }

    def _gettoken(self, request: httpx.Request) -> dict[str, Any]:
        params = request.url.params
        if params.get("corpid") != CORP_ID:
            return err(40013, "invalid corpid")
        if params.get("corpsecret") != SECRET:
            return err(40001, "invalid credential")
        token = f"tok{len(self.tokens) + 1}-LkQ8s0d9Fh2Jk4Lm6Nb8Vc0Xz"
        self.tokens.append(token)
        return {
            "errcode": 0,
            "errmsg": "ok",
            "access_token": token,
            "expires_in": self.token_lifetime,
        }

    def _sync(self, body: dict[str, Any]) -> dict[str, Any]:
        self.syncs.append(body)
        assert "token" not in body  # omnitui has no callback token
        assert 1 <= body["limit"] <= 1000
        if body.get("open_kfid") != OPEN_KFID:
            return err(95000, "invalid open_kfid")
        cursor = body.get("cursor", "")
        start = 0 if self.replay or not cursor else int(cursor.removeprefix("cur"))
        self.replay = False
        size = min(self.page_size, body["limit"])
        page = self.messages[start : start + size]
        end = start + len(page)
        return {
            "errcode": 0,
            "errmsg": "ok",
            "next_cursor": f"cur{end}",
            "has_more": 1 if end < len(self.messages) else 0,
            "msg_list": page,
        }

    def _batchget(self, body: dict[str, Any]) -> dict[str, Any]:
        self.lookups.append(body)
        users = body["external_userid_list"]
        assert 1 <= len(users) <= 100
        return {
            "errcode": 0,
            "errmsg": "ok",
            "customer_list": [
                {
                    "external_userid": u,
                    "nickname": self.nicknames[u],
                    "avatar": "http://wx.qlogo.cn/mmhead/x/0",
                    "gender": 0,
                    "unionid": "",
                }
                for u in users
                if u in self.nicknames
            ],
            "invalid_external_userid": [u for u in users if u not in self.nicknames],
        }

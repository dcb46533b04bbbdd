"""``[csat]``: the shape documented in docs/CSAT.md loads; mistakes are one line with
file, line and key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from omnitui.config import ConfigError, load_config
from omnitui.config.csat import DEFAULT_TEXT, Csat


def load(tmp_path: Path, text: str) -> Csat:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path).csat


def test_off_by_default(tmp_path: Path) -> None:
    csat = load(tmp_path, "")
    assert not csat.enabled and csat.text_for("email") is None


def test_every_channel_but_phone_without_a_channels_table(tmp_path: Path) -> None:
    csat = load(tmp_path, "[csat]\nenabled = true\n")
    assert csat.text_for("email") == DEFAULT_TEXT and csat.text_for("telegram") == DEFAULT_TEXT
    assert csat.text_for("phone") is None
    assert csat.every == timedelta(days=30) and csat.answer_within == timedelta(days=7)


def test_channels_table_lists_the_channels_and_their_texts(tmp_path: Path) -> None:
    csat = load(
        tmp_path,
        '[csat]\nenabled = true\ntext = "Rate us 1-5"\nevery_days = 0\nanswer_days = 3\n\n'
        '[csat.channels]\nemail = true\ntelegram = "Wie war\'s? 1–5"\nsms = false\n',
    )
    assert csat.text_for("email") == "Rate us 1-5"
    assert csat.text_for("telegram") == "Wie war's? 1–5"
    assert csat.text_for("sms") is None and csat.text_for("matrix") is None
    assert csat.every is None and csat.answer_within == timedelta(days=3)


@pytest.mark.parametrize(
    ("text", "where", "says"),
    [
        ("[csat]\nenabled = 1\n", ":2:", "csat.enabled: expected true or false"),
        ('[csat]\ntext = ""\n', ":2:", "csat.text: expected the survey's text"),
        ("[csat]\nevery_days = -1\n", ":2:", "csat.every_days: expected a whole number"),
        ('[csat]\nanswer_days = "7"\n', ":2:", "csat.answer_days: expected a whole number"),
        ("[csat]\nanswer_days = 0\n", ":2:", "from 1 to 3650"),
        ("[csat]\nenable = true\n", ":2:", "did you mean 'enabled'?"),
        ("[csat]\nchannels = true\n", ":2:", "csat.channels: expected a table"),
        ("[csat.channels]\nemial = true\n", ":2:", "csat.channels.emial: not a channel"),
        ("[csat.channels]\nemail = 1\n", ":2:", "expected true, false or the survey text"),
        ('[csat]\ntext = "' + "x" * 1001 + '"\n', ":2:", "at most 1000 characters"),
        ('csat = "on"\n', ":1:", "csat: expected a table [csat]"),
    ],
)
def test_mistakes_are_one_line_with_the_line(
    tmp_path: Path, text: str, where: str, says: str
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "\n" not in message and where in message and says in message, message

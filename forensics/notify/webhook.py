"""A webhook (`http://…`, `https://…`): one JSON document POSTed per run that changed something."""

from __future__ import annotations

from .answer import Answer
from .http import post_json


def send(receiver, message: dict) -> Answer:
    """POST the message's document to the receiver's URL."""
    return post_json(receiver.url, message["document"], timeout=receiver.timeout)

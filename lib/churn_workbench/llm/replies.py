"""Reading one chat-completions reply: the parsed JSON content, the usage, or why it is unusable.

Replies seen in the wild that are not answers: a truncated or non-JSON body, a bare JSON string,
`choices: null`, no message content, and a reply cut off by max_tokens. Each raises
`UnreadableReply` with the tokens the server billed, so the budget stays honest.
"""
from __future__ import annotations

import json
import re

from ..errors import UnreadableReply

_FENCE = re.compile(r"```(?:json|JSON)?\s*(\{.*?\})\s*```", re.S)


def parse_content(content: str, lenient: bool):
    """The JSON object in a message. Lenient (json_object/text modes): also inside a markdown
    fence or after prose, i.e. the first decodable object in the text."""
    try:
        return json.loads(content)
    except json.JSONDecodeError:
        if not lenient:
            raise
    fenced = _FENCE.search(content)
    if fenced:
        try:
            return json.loads(fenced.group(1))
        except json.JSONDecodeError:
            pass
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", content):
        try:
            value, _ = decoder.raw_decode(content, match.start())
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    raise json.JSONDecodeError("no JSON object in the content", content, 0)


def read_reply(text: str, lenient: bool = False) -> tuple[object, int, int, str | None]:
    """(parsed message content, prompt_tokens, completion_tokens, finish_reason)."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, TypeError):
        raise UnreadableReply("body is not JSON") from None
    if not isinstance(data, dict):
        raise UnreadableReply("body is not an object")
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    pt, ct = (int(usage.get(k) or 0) if isinstance(usage.get(k), (int, float)) else 0
              for k in ("prompt_tokens", "completion_tokens"))
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise UnreadableReply("no choices", (pt, ct))
    finish = choices[0].get("finish_reason")
    message = choices[0].get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, str):
        raise UnreadableReply("no message content", (pt, ct))
    if finish == "length":
        raise UnreadableReply("cut_off", (pt, ct))  # stopped by max_tokens: never complete JSON worth keeping
    try:
        return parse_content(content, lenient), pt, ct, finish
    except json.JSONDecodeError:
        raise UnreadableReply("content is not JSON", (pt, ct)) from None

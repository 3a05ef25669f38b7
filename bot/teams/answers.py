"""The answer to what a person did in Teams, as the outbox delivers it
(NoticeKind.COMMAND_ANSWER).

The bot does not answer in the turn once something is stored: the answer ("Filed
IT-7 …", "Sent on IT-7.", the form's receipt) is queued in the transaction of the
change, so a Bot Connector that fails at that moment (5xx, 429, a cut connection)
delays it instead of losing it. Its destination is the conversation the person
spoke in: the turn's own conversation reference (so the answer goes where the
activity came from, and to the `serviceUrl` that was checked when it came in:
bot/teams/app.py), and the id of the activity the answer replies to or, for the
request form's receipt, the form card it replaces.
"""

from __future__ import annotations

import json

from botbuilder.core import TurnContext
from botbuilder.schema import Activity, ConversationReference

# Keys of a Teams answer's destination (handlers.notices.answer). Other platforms'
# channels know none of them, so no other channel claims the answer.
REFERENCE = "teams_reference"
REPLACE = "teams_replace"


def destination(activity: Activity, replace: str | None = None) -> dict[str, str]:
    """Where the answer to `activity` goes: its conversation, as a reply to it, or
    in place of the activity `replace` (a card the bot sent there)."""
    reference = TurnContext.get_conversation_reference(activity)
    where = {REFERENCE: json.dumps(reference.serialize(), separators=(",", ":"))}
    if replace:
        where[REPLACE] = replace
    return where


def is_teams_answer(where: dict[str, str]) -> bool:
    return bool(where.get(REFERENCE))


def reference(where: dict[str, str]) -> ConversationReference:
    found: ConversationReference = ConversationReference.deserialize(json.loads(where[REFERENCE]))
    return found

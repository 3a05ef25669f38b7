"""Every table, imported in one place for Alembic and for `create_all` in tests."""

from models.base import Base
from models.directory import (
    CalendarRow,
    DeskSettings,
    EscalationStep,
    Membership,
    Person,
    ServiceStandard,
    Team,
    TeamAlias,
)
from models.inbox import PendingCommand
from models.insight_rollup import (
    InsightCategory,
    InsightDay,
    InsightDepartment,
    InsightDuration,
    InsightPerson,
    InsightTally,
)
from models.outbox import (
    ConversationAddress,
    InboundKey,
    MessageRef,
    OutboxMessage,
    ThreadLink,
)
from models.requests import Escalation, Request, RequestEvent, Survey

__all__ = [
    "Base",
    "CalendarRow",
    "ConversationAddress",
    "DeskSettings",
    "Escalation",
    "EscalationStep",
    "InboundKey",
    "InsightCategory",
    "InsightDay",
    "InsightDepartment",
    "InsightDuration",
    "InsightPerson",
    "InsightTally",
    "Membership",
    "MessageRef",
    "OutboxMessage",
    "PendingCommand",
    "Person",
    "Request",
    "RequestEvent",
    "ServiceStandard",
    "Survey",
    "Team",
    "TeamAlias",
    "ThreadLink",
]

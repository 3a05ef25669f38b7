"""The fixed words of the desk: statuses, priorities, roles, clocks."""

from __future__ import annotations

from enum import StrEnum

from models.i18n import N_


class Status(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    WAITING = "waiting"
    RESOLVED = "resolved"
    CLOSED = "closed"


ACTIVE_STATUSES = (Status.OPEN, Status.IN_PROGRESS, Status.WAITING)

# How a status reads to people (translated when shown).
STATUS_LABELS = {
    Status.OPEN: N_("open"),
    Status.IN_PROGRESS: N_("in progress"),
    Status.WAITING: N_("waiting on requester"),
    Status.RESOLVED: N_("resolved"),
    Status.CLOSED: N_("closed"),
}


class Priority(StrEnum):
    URGENT = "urgent"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


class Role(StrEnum):
    MEMBER = "member"
    LEAD = "lead"


class ClockKind(StrEnum):
    FIRST_RESPONSE = "first_response"
    RESOLUTION = "resolution"
    SURVEY = "survey"  # after resolution: the reminder, then auto-close

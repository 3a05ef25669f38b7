"""What "resolved", "within standard" and the first-response buckets mean in the
insight's SQL, shared by the rollups' sources (handlers.insight_sources) and the
figures read live, so every table counts them the same way.
"""

from __future__ import annotations

from sqlalchemy import and_, or_

from models.requests import Request, resolution_within_standard

RESOLVED = Request.resolved_at.is_not(None)
WITHIN = and_(RESOLVED, resolution_within_standard())
# A request can only be reopened from resolved, so a reopen means it was resolved once.
REOPENED = Request.reopen_count > 0
RESOLVED_ONCE = or_(RESOLVED, REOPENED)

# First-response histogram, in business seconds (a business day is 8 hours).
BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("<1h", 0, 3600),
    ("1-4h", 3600, 4 * 3600),
    ("4-8h", 4 * 3600, 8 * 3600),
    ("1-2d", 8 * 3600, 16 * 3600),
    (">2d", 16 * 3600, None),
)


def ratio(part: int | None, whole: int | None) -> float | None:
    return int(part or 0) / int(whole) if whole else None

"""What "resolved" and "within standard" mean in the insight's SQL, shared by the
per-team figures (handlers.insight_teams) and the cross-team ones
(handlers.insight_pairs), so every table counts them the same way.
"""

from __future__ import annotations

from sqlalchemy import and_

from models.requests import Request

RESOLVED = Request.resolved_at.is_not(None)
WITHIN = and_(RESOLVED, Request.resolution_consumed_seconds <= Request.resolution_target_seconds)


def ratio(part: int | None, whole: int | None) -> float | None:
    return int(part or 0) / int(whole) if whole else None

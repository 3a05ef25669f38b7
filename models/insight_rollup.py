"""The insight report's rollups: the requests' figures added up per team and UTC
day of filing (durations per team and UTC week), so a year is read from about
10^5 rows instead of every request and its survey, escalations and requester.

Each row is a pure function of the requests filed in its bucket, a sum of what
each contributes (handlers.insight_sources says what); handlers.insight_rollup adds
the difference a transaction made to its requests' rows when it commits. The
unique constraints are the rows' keys its upserts (ON CONFLICT) name.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base
from models.requests import CATEGORY_MAX

DEPARTMENT_MAX = 120  # as people.department


class InsightDay(Base):
    """Counts per team and day."""

    __tablename__ = "insight_days"
    __table_args__ = (UniqueConstraint("team_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    day: Mapped[date]
    volume: Mapped[int]
    resolved: Mapped[int]
    within: Mapped[int]  # resolved within the resolution standard
    answered: Mapped[int]
    answered_in_time: Mapped[int]
    resolved_once: Mapped[int]
    reopened: Mapped[int]
    # Answered requests per first-response bucket (handlers.insight_measures.BUCKETS).
    bucket_0: Mapped[int]
    bucket_1: Mapped[int]
    bucket_2: Mapped[int]
    bucket_3: Mapped[int]
    bucket_4: Mapped[int]
    surveys: Mapped[int]  # sent
    ratings: Mapped[int]  # answered
    rating_sum: Mapped[int]


class InsightDepartment(Base):
    """The department-pair matrix's counts per team, day and requesting department
    ('' when the requester has none): ten times the rows of insight_days, so apart."""

    __tablename__ = "insight_departments"
    __table_args__ = (UniqueConstraint("team_id", "day", "department"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    day: Mapped[date]
    department: Mapped[str] = mapped_column(String(DEPARTMENT_MAX))
    volume: Mapped[int]
    resolved: Mapped[int]
    within: Mapped[int]
    ratings: Mapped[int]
    rating_sum: Mapped[int]


class InsightTally(Base):
    """Requests per team, day and a small integer: `rating` (the survey's answer) or
    `level` (a ladder level either clock reached)."""

    __tablename__ = "insight_tallies"
    __table_args__ = (UniqueConstraint("team_id", "day", "kind", "value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    day: Mapped[date]
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[int]
    n: Mapped[int]


class InsightCategory(Base):
    """Breached requests per team, day and category, among requests no longer active
    (an active request's breach depends on the moment it is asked about)."""

    __tablename__ = "insight_categories"
    __table_args__ = (UniqueConstraint("team_id", "day", "category"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    day: Mapped[date]
    category: Mapped[str] = mapped_column(String(CATEGORY_MAX))
    breached: Mapped[int]


class InsightPerson(Base):
    """Resolved requests per team, day and assignee, for recognition."""

    __tablename__ = "insight_people"
    __table_args__ = (UniqueConstraint("team_id", "day", "assignee_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    day: Mapped[date]
    assignee_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    resolved: Mapped[int]
    within: Mapped[int]
    ratings: Mapped[int]
    rating_sum: Mapped[int]


class InsightDuration(Base):
    """A histogram of business seconds per team and UTC week (its Monday): requests
    per bucket (handlers.insight_percentiles) on each clock, for medians and p90s.
    Weeks, not days: a day's few requests would fill nearly a row each."""

    __tablename__ = "insight_durations"
    __table_args__ = (UniqueConstraint("team_id", "week", "bucket"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    week: Mapped[date]
    bucket: Mapped[int]
    first_response: Mapped[int]  # answered requests
    resolution: Mapped[int]  # resolved requests

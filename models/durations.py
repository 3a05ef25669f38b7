"""Business durations as admins write them: `45s`, `30m`, `4h`, `2d`.

Seconds, minutes and hours are plain clock time counted inside business hours;
a day is one working day of the calendar it is resolved against (8 hours for a
09:00-17:00 week, 24 hours for a 24x7 one). The type is a pydantic field type
that accepts only the text form, so a catalog's `30m` works and a bare `30` is
reported as what it is: a number where a duration was expected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final, Literal, cast

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from models.i18n import _

if TYPE_CHECKING:
    from models.calendar import BusinessCalendar

Unit = Literal["s", "m", "h", "d"]

_UNIT_SECONDS: Final[dict[str, int]] = {"s": 1, "m": 60, "h": 3600}
_PATTERN: Final = re.compile(r"\s*([0-9]+)\s*([smhd])\s*", re.IGNORECASE)
# Nothing a desk promises is ten years away; the cap keeps timedelta arithmetic safe.
_MAX_DAYS: Final = 3650
_MAX_SECONDS: Final = {"s": _MAX_DAYS * 86400, "m": _MAX_DAYS * 1440, "h": _MAX_DAYS * 24}


def _expected(got: object) -> str:
    shown = f"'{got}'" if isinstance(got, str) else repr(got)
    return _("expected a duration like 45s, 30m, 4h or 2d, got {got}", got=shown)


@dataclass(frozen=True)
class BusinessDuration:
    """An amount of business time in one unit; `d` means working days."""

    amount: int
    unit: Unit

    def __post_init__(self) -> None:
        if self.unit not in ("s", "m", "h", "d"):
            raise ValueError(_expected(f"{self.amount}{self.unit}"))
        if isinstance(self.amount, bool) or not isinstance(self.amount, int) or self.amount < 0:
            raise ValueError(_expected(f"{self.amount}{self.unit}"))
        limit = _MAX_DAYS if self.unit == "d" else _MAX_SECONDS[self.unit]
        if self.amount > limit:
            raise ValueError(
                _(
                    "expected a duration of at most {limit}, got '{got}'",
                    limit=f"{_MAX_DAYS}d",
                    got=f"{self.amount}{self.unit}",
                )
            )

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}"

    def resolve(self, calendar: BusinessCalendar) -> timedelta:
        """The business time this stands for under `calendar`."""
        if self.unit == "d":
            return self.amount * calendar.working_day_length()
        return timedelta(seconds=self.amount * _UNIT_SECONDS[self.unit])

    @classmethod
    def _coerce(cls, value: object) -> BusinessDuration:
        if isinstance(value, BusinessDuration):
            return value
        if not isinstance(value, str):
            raise ValueError(_expected(value))
        return parse_duration(value)

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls._coerce,
            serialization=core_schema.plain_serializer_function_ser_schema(
                str, return_schema=core_schema.str_schema()
            ),
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"type": "string", "pattern": r"^\s*[0-9]+\s*[smhdSMHD]\s*$", "examples": ["4h"]}


def parse_duration(text: str) -> BusinessDuration:
    """`'45s'`, `'30m'`, `'4h'`, `'2d'` (spaces allowed) -> BusinessDuration.

    Raises ValueError saying what was expected for anything else: empty text,
    negative amounts, decimals, or a unit other than s, m, h, d.
    """
    match = _PATTERN.fullmatch(text)
    if match is None:
        raise ValueError(_expected(text))
    unit = cast(Unit, match.group(2).lower())
    return BusinessDuration(int(match.group(1)), unit)

"""People as this process last read them, so that someone acting again reads no row.

Every command starts by finding the person behind the chat identity
(handlers.people.resolve_person): a SELECT of every quick-file, although the same
people file again and again and their row rarely changes. It changes in two ways:

- `inhouse catalog apply` sets department, language, calendar, admin rights, and
  bumps the catalog generation (handlers.catalog_cache), in whatever process it
  runs. A copy is used only while this process's catalog copy has the generation
  the copy was read under, so a person moved by an apply is read afresh at most
  catalog_cache.REVALIDATE_SECONDS after it committed, like the teams.
- resolve_person fills gaps from a chat profile, in whatever process the person
  spoke. A copy is kept for one identity exactly as the platform described it
  (a changed profile misses, reads the row and fills it), and for KEEP_SECONDS
  at most: a gap filled elsewhere (the person's Teams id, seen by another
  replica) shows here after that at the latest. Nothing a command reads from the
  person it acts as depends on another platform's columns.

Each session gets its own Person instance, merged without a query; the copy itself
is a plain mapping of column values, never attached anywhere. A copy is kept only
once its transaction committed, by hooks on the desk's own session class
(`keep_on_commit`, from app.build_sessions); a session of any other class keeps none.
"""

from __future__ import annotations

import time
import weakref
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, inspect
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction, make_transient_to_detached
from sqlalchemy.orm.util import identity_key

from models.directory import Person

if TYPE_CHECKING:
    from handlers.people import Identity

# The longest a copy is used: how late a gap filled by another process shows here.
KEEP_SECONDS = 60.0
# People kept per database; the least recently used go first.
MOST = 10_000
# Session.info key of the copies waiting for the commit.
_WAITING = "people_to_keep"
# Set on the session classes whose commits keep the copies (keep_on_commit).
_KEEPS = "_inhouse_keeps_people"


@dataclass(frozen=True)
class _Copy:
    generation: int
    read_at: float
    columns: Mapping[str, Any]


class _Kept:
    """One database's copies, least recently used first."""

    def __init__(self) -> None:
        self.by_identity: OrderedDict[Identity, _Copy] = OrderedDict()
        # A person's one identity with a copy: a copy made under another identity
        # (their profile changed, then changed back) would undo what that one filled.
        self.identity_of: dict[int, Identity] = {}

    def keep(self, identity: Identity, copy: _Copy) -> None:
        person_id = copy.columns["id"]
        before = self.identity_of.get(person_id)
        if before is not None and before != identity:
            self.drop(before)
        self.identity_of[person_id] = identity
        self.by_identity[identity] = copy
        self.by_identity.move_to_end(identity)
        while len(self.by_identity) > MOST:
            self.drop(next(iter(self.by_identity)))

    def drop(self, identity: Identity) -> None:
        copy = self.by_identity.pop(identity)
        if self.identity_of.get(copy.columns["id"]) == identity:
            del self.identity_of[copy.columns["id"]]


_copies: weakref.WeakKeyDictionary[Engine, _Kept] = weakref.WeakKeyDictionary()


def _kept(session: AsyncSession) -> _Kept:
    engine: Engine = session.get_bind().engine
    found = _copies.get(engine)
    if found is None:
        found = _copies[engine] = _Kept()
    return found


def attach(session: AsyncSession, identity: Identity, generation: int) -> Person | None:
    """The session's own Person for this identity from the copy, without a query;
    None when there is no copy fit to use."""
    kept = _kept(session)
    copy = kept.by_identity.get(identity)
    if copy is None:
        return None
    if copy.generation != generation or time.monotonic() - copy.read_at > KEEP_SECONDS:
        kept.drop(identity)
        return None
    kept.by_identity.move_to_end(identity)
    sync = session.sync_session
    held = sync.identity_map.get(identity_key(Person, copy.columns["id"]))
    if held is not None:
        assert isinstance(held, Person)
        return held
    person = Person(**copy.columns)
    # As if loaded: merging without loading adds it to the session with no statement.
    make_transient_to_detached(person)
    return sync.merge(person, load=False)


def remember(session: AsyncSession, identity: Identity, person: Person, generation: int) -> None:
    """Keep a copy of the person as flushed, read under this catalog generation, once
    the transaction commits: a newcomer enrolled (or a profile filled) in one that
    is rolled back was never stored."""
    sync = session.sync_session
    if not getattr(sync, _KEEPS, False):
        return  # no commit would tell us it is stored: read again next time
    columns = {attribute.key: getattr(person, attribute.key) for attribute in _columns()}
    _, waiting = sync.info.setdefault(_WAITING, (_kept(session), {}))
    waiting[identity] = _Copy(generation, time.monotonic(), MappingProxyType(columns))


def keep_on_commit(session_class: type[Session]) -> None:
    """For the composition root, on its session factory's own class: what a session
    of this class remembered is kept once its transaction commits, and forgotten
    when it ends otherwise."""
    setattr(session_class, _KEEPS, True)
    event.listen(session_class, "after_commit", _committed)
    event.listen(session_class, "after_transaction_end", _ended)


def _committed(sync: Session) -> None:
    kept, waiting = sync.info.pop(_WAITING, (None, {}))
    for identity, copy in waiting.items():
        kept.keep(identity, copy)


def _ended(sync: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        # Rolled back (a commit took them already): nothing of it is kept.
        sync.info.pop(_WAITING, None)


def _columns() -> Any:
    return inspect(Person).column_attrs

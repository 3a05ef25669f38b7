"""Opening the desk's modals, in the reader's language, with what they need."""

from __future__ import annotations

from slack_sdk.models.views import View
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncSession

from bot.slack import views
from bot.slack.desk import SlackDesk
from handlers.access import active_teams, find_team
from handlers.queries import assignable, may_work_on
from models.directory import Person


async def file_form(
    session: AsyncSession,
    team_key: str | None = None,
    *,
    title: str = "",
    description: str = "",
    permalink: str | None = None,
) -> View:
    teams = await active_teams(session)
    chosen = await find_team(session, team_key) if team_key else None
    return views.file_modal(
        [(t.key, t.name) for t in teams],
        chosen.key if chosen else None,
        list(chosen.categories) if chosen else [],
        title=title,
        description=description,
        permalink=permalink,
    )


async def open_file_form(
    desk: SlackDesk,
    client: AsyncWebClient,
    user_id: str,
    trigger_id: str,
    *,
    text: str = "",
    permalink: str | None = None,
) -> None:
    title, _nl, description = text.strip().partition("\n")

    async def build(session: AsyncSession, _person: Person) -> View:
        return await file_form(
            session, title=title, description=description.strip(), permalink=permalink
        )

    view = await desk.act(client, user_id, build)
    await client.views_open(trigger_id=trigger_id, view=view)


async def open_team_form(
    desk: SlackDesk,
    client: AsyncWebClient,
    user_id: str,
    trigger_id: str,
    kind: str,
    key: str,
) -> str | None:
    """Resolve / assign / comment forms; the refusal text when the user may not."""

    async def build(session: AsyncSession, person: Person) -> View:
        if kind == "assign":
            request, members = await assignable(session, person, key)
            return views.assign_modal(
                request.key, [(m.email or "", m.display_name) for m in members if m.email]
            )
        if kind == "comment":
            return views.comment_modal(key.upper())
        request = await may_work_on(session, person, key)
        return views.resolve_modal(request.key)

    view = await desk.attempt(client, user_id, build)
    if isinstance(view, str):
        return view
    await client.views_open(trigger_id=trigger_id, view=view)
    return None

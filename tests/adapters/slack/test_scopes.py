"""The manifest asks for what the code uses, and nothing can drift apart unnoticed.

deploy/slack-manifest.yml is the one source: the fake Slack grants exactly its
scopes (and answers missing_scope for the rest, as Slack does), the test driver
sends only the events it subscribes to, and the OAuth install asks for BOT_SCOPES,
which must be the same list. Here every Web API method the code calls is found in
the code itself and held against Slack's documented scopes (the fake's table).
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from slack_sdk.web.async_client import AsyncWebClient

from bot.command_line import KEYED_VERBS, LIST_VERBS, STATS_VERB
from bot.slack.app import BOT_SCOPES, EVENTS_PATH
from bot.slack.listeners.shortcuts import FILE_SHORTCUT
from tests.fakes.slack_api import (
    METHOD_SCOPES,
    FakeSlack,
    manifest,
    manifest_bot_events,
    manifest_bot_scopes,
)

CODE = Path(__file__).resolve().parents[3] / "bot"
# Called for us by the libraries: Bolt (auth.test to authorize with a single token,
# and after an OAuth install; oauth.v2.access in the OAuth flow) and slack_sdk's
# Socket Mode client (apps.connections.open, with the app-level token).
CALLED_BY_LIBRARIES = {"auth.test", "oauth.v2.access", "apps.connections.open"}
# The conversations the code reads or opens, for the methods whose scope depends
# on the kind: a :ticket: may be added in any conversation the bot is in; a notice
# that may be on Slack already is looked for where it goes (a team's public or
# private channel, a DM, a thread there); DMs are opened with one person at a time.
KINDS = {
    "conversations.history": ("channel", "group", "im"),
    "conversations.replies": ("channel", "group", "im", "mpim"),
    "conversations.open": ("im",),
}
# Events the listeners handle, as the manifest subscribes to them.
LISTENED = {
    "app_home_opened",
    "app_uninstalled",
    "message.channels",
    "message.groups",
    "message.im",
    "message.mpim",
    "reaction_added",
    "tokens_revoked",
}


def _slack_methods(name: str, seen: set[str] | None = None) -> set[str]:
    """The Web API methods an AsyncWebClient method calls (files_upload_v2 is two)."""
    seen = seen if seen is not None else set()
    if name in seen:
        return set()
    seen.add(name)
    source = inspect.getsource(getattr(AsyncWebClient, name))
    methods = set(re.findall(r'api_call\(\s*"([\w.]+)"', source))
    for nested in re.findall(r"self\.(\w+)\(", source):
        if nested != "api_call" and not nested.startswith("_") and hasattr(AsyncWebClient, nested):
            methods |= _slack_methods(nested, seen)
    return methods


def methods_the_code_calls() -> set[str]:
    code = "\n".join(path.read_text(encoding="utf-8") for path in CODE.rglob("*.py"))
    names = {
        name
        for name in set(re.findall(r"\.(\w+_\w+)\(", code))
        if hasattr(AsyncWebClient, name) and not name.startswith("_") and name != "api_call"
    }
    called = set().union(*(_slack_methods(name) for name in names))
    assert "chat.postMessage" in called and "files.completeUploadExternal" in called, called
    return called | CALLED_BY_LIBRARIES


def test_every_method_the_code_calls_is_one_the_fake_answers_with_its_scope() -> None:
    implemented = FakeSlack().methods
    for method in methods_the_code_calls():
        assert method in implemented, f"{method}: the fake Slack does not answer it"
        assert method in METHOD_SCOPES, f"{method}: give it Slack's documented scope"


def test_the_manifest_grants_every_scope_the_code_needs_and_no_other() -> None:
    needed = set()
    for method in methods_the_code_calls() - {"apps.connections.open"}:  # app-level token
        scopes = METHOD_SCOPES[method]
        if isinstance(scopes, dict):
            needed |= {scopes[kind] for kind in KINDS[method]}
        else:
            needed |= set(scopes)
    needed |= {
        "commands",  # the /request command
        "reactions:read",  # reaction_added
        # The message events: channels, private channels, DMs, group DMs.
        "channels:history",
        "groups:history",
        "im:history",
        "mpim:history",
    }
    granted = manifest_bot_scopes()
    assert len(granted) == len(set(granted)), granted
    assert set(granted) == needed, (
        f"missing: {sorted(needed - set(granted))}, unused: {sorted(set(granted) - needed)}"
    )


def test_bot_scopes_and_the_manifest_are_one_list() -> None:
    """What an OAuth install asks for is what the app's page grants at "Install App"."""
    assert manifest_bot_scopes() == BOT_SCOPES


def test_the_manifest_subscribes_to_every_event_listened_to() -> None:
    events = manifest_bot_events()
    assert len(events) == len(set(events)), events
    assert set(events) == LISTENED


def test_the_manifest_points_slack_at_the_app() -> None:
    loaded = manifest()
    command = loaded["features"]["slash_commands"][0]
    assert command["command"] == "/request"
    assert loaded["features"]["shortcuts"][0]["callback_id"] == FILE_SHORTCUT
    for url in (
        loaded["settings"]["event_subscriptions"]["request_url"],
        loaded["settings"]["interactivity"]["request_url"],
        command["url"],
    ):
        assert url.endswith(EVENTS_PATH)
    # Slack's manifest schema limits.
    assert len(loaded["display_information"]["description"]) <= 140
    assert len(command["description"]) <= 2000


def test_the_usage_hint_names_every_verb() -> None:
    """What Slack shows under /request while typing: every verb there is."""
    hint = manifest()["features"]["slash_commands"][0]["usage_hint"]
    assert len(hint) <= 1000  # Slack's manifest schema
    words = set(re.findall(r"[a-z]+", hint))
    missing = (KEYED_VERBS | LIST_VERBS | {STATS_VERB}) - words
    assert not missing, f"usage_hint lacks {sorted(missing)}"

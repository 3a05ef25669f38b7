"""Verbs: the desk's platform-neutral use cases.

Each use case takes a session, a clock and the acting person, checks
permissions, writes the change, an audit event and the outbox notices in the
caller's transaction, and raises a `DeskError` instead of writing half a change.
"""

"""Slack: Bolt listeners that parse, call a use case and render; and delivery."""

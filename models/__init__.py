"""Nouns: what Inhouse stores and configures, and the pure rules over them.

Nothing here imports other Inhouse packages or any chat platform.
"""

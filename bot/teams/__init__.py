"""Microsoft Teams: botbuilder activity handling, Adaptive Cards and delivery."""

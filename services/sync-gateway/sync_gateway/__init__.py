"""Sync gateway: the outward feed to the national platform (only published content, ordered, replayable),
subscriptions, national feedback, the catalogue read model and the operator dashboard."""

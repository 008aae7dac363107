"""The HTTP service: plans, stakeholders, tokens, changes and versions over the engine."""

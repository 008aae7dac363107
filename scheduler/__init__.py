"""The engine: scenarios, time rules, impact and the optimizer. Knows nothing of HTTP or databases."""

"""Settings of the HTTP service, from ``NEGOTIATOR_*`` environment variables."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything ``create_app`` needs; nothing is read from the environment elsewhere."""

    model_config = SettingsConfigDict(env_prefix="NEGOTIATOR_")

    database_url: str = "sqlite:///negotiator.db"
    admin_token: str | None = None  # a fresh server without one makes one and prints it once
    time_limit_s: float = 10.0  # the optimizer's limit per version
    rate_limit_per_minute: int = 600  # requests per token per minute, per server process
    solver: bool = True  # run the background solver in this process
    poll_s: float = 0.5  # how often the solver looks for work left by other processes

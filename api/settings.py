"""Settings of the HTTP service, from ``NEGOTIATOR_*`` environment variables."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from pydantic import NonNegativeFloat, PositiveFloat, PositiveInt, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from scheduler.schema import Duration


class Settings(BaseSettings):
    """Everything ``create_app`` needs; nothing is read from the environment elsewhere."""

    model_config = SettingsConfigDict(env_prefix="NEGOTIATOR_")

    database_url: str = "sqlite:///negotiator.db"
    admin_token: str | None = None  # a fresh server without one makes one and prints it once
    # The key of the audit log's hashes; without one, the key file next to the SQLite database (or
    # ./negotiator-audit.key), made at the first start. Several servers need the same key.
    audit_key: str | None = None
    time_limit_s: float = 10.0  # the optimizer's limit per version
    rate_limit_per_minute: int = 600  # requests per token per minute, per server process
    # A plan's slots × regions × requests at most (5 times the biggest shipped scenario); then 422.
    max_problem_cells: PositiveInt = 2_000_000
    max_body_bytes: int = 1_048_576  # a longer request body is refused with 413 before anything else
    solver: bool = True  # run the background solver in this process
    poll_s: float = 0.5  # how often the solver looks for work left by other processes
    # Requests served at once by this process's worker threads: a request waiting for its change's
    # transaction holds one, and so would keep a reader waiting if there were only as many as writers.
    worker_threads: PositiveInt = 80
    # After a plan's solve, its next one waits this long: the changes sent meanwhile fold into one
    # version, and a burst's solves leave the cores to the requests.
    solve_pause_s: NonNegativeFloat = 1.0
    solver_processes: PositiveInt = 2  # plans solved at once, each in a worker process of its own
    # A solve (building the model, then at most the time limit's search) still running after this
    # is stopped: its changes are refused, the plan is unchanged.
    solve_timeout_s: PositiveFloat = 60.0
    # Lead times of a webhook's reminders before a window starts, unless it names its own.
    reminders: list[Duration] = [timedelta(hours=24), timedelta(hours=1)]
    webhook_timeout_s: float = 5.0  # how long a receiver may take to connect, and then to answer
    webhook_retry_s: float = 30.0  # the wait after a first failed delivery, doubled after each failure
    webhook_max_attempts: int = 10  # then the message is marked failed (after about 8.5 hours)
    webhooks: bool = True  # send webhook messages and reminders from this process
    webhook_poll_s: float = 5.0  # how often due messages and reminders are looked for
    webhook_concurrency: PositiveInt = 8  # messages sent at once by this process
    webhook_per_host: PositiveInt = 2  # of which at most this many to one host and port
    # Allow webhooks to loopback, private and link-local addresses (on-premises receivers).
    webhook_private_targets: bool = False
    webhooks_per_stakeholder: PositiveInt = 10  # active webhooks per stakeholder and plan; then 409
    # Where clients reach the service: the links in webhook messages, calendar feeds and feed URLs.
    public_url: str = "http://127.0.0.1:8000"
    # Where announced windows of requests with ``silence`` matchers get their silences, unless a plan names its own.
    alertmanager_url: str | None = None

    @field_validator("public_url", "alertmanager_url")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        return base_url(value) if value is not None else None

    @model_validator(mode="after")
    def _solve_outlasts_its_search(self) -> Settings:
        if self.solve_timeout_s <= self.time_limit_s:
            raise ValueError(
                f"solve_timeout_s ({self.solve_timeout_s:g}) must exceed time_limit_s ({self.time_limit_s:g}):"
                " a solve builds its model before the time limit's search"
            )
        return self


def base_url(value: str) -> str:
    """An absolute http(s) URL without query or fragment, without its trailing slash; ValueError otherwise."""
    parsed = urlsplit(value)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError(f"must be an absolute http(s) URL such as https://ops.example.com, not {value[:80]!r}")
    if parsed.query or parsed.fragment:
        raise ValueError("must have no query or fragment")
    return value.rstrip("/")

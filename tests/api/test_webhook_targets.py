"""Webhooks are not a way into the server's network: public targets only (unless the server allows
private ones), checked on the address actually called, a cap per stakeholder, a delivery log that
does not tell open ports from closed ones, and a receiver that hangs delays only its own messages."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from api.runtime.targets import Refused, pinned, public
from tests.api.test_app import post_change, problem, soft_objection
from tests.api.test_webhooks import deliveries, opened_plan, register
from tests.receiver import Receiver

if TYPE_CHECKING:
    from tests.api.conftest import Start

pytestmark = pytest.mark.anyio


@pytest.fixture
def hanging() -> Iterator[str]:
    """The URL of a server that accepts connections and never answers."""
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen(64)
        yield f"http://127.0.0.1:{listening.getsockname()[1]}/hooks"


def resolving(monkeypatch: pytest.MonkeyPatch, *addresses: str) -> None:
    """Make every name resolve to ``addresses``."""

    def getaddrinfo(host: str, port: int, *_: Any, **__: Any) -> list[tuple[Any, ...]]:
        family = {4: socket.AF_INET, 6: socket.AF_INET6}
        return [(family[ipaddress.ip_address(a).version], socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",  # shared (carrier-grade NAT)
        "0.0.0.0",
        "224.0.0.1",
        "::1",
        "fd00::1",
        "fe80::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
    ],
)
def test_loopback_private_link_local_and_multicast_addresses_are_not_public(address: str) -> None:
    assert not public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2001:4860:4860::8888"])
def test_internet_addresses_are_public(address: str) -> None:
    assert public(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:5432/",
        "http://2130706433/",  # 127.0.0.1 as one number
        "http://0x7f.1/",
        "http://localhost:6379/",
        "http://[::1]:8080/",
        "http://[::ffff:a9fe:a9fe]/latest/meta-data/",
    ],
)
def test_a_target_resolving_to_a_private_address_is_refused(url: str) -> None:
    with pytest.raises(Refused, match="private"):
        pinned(url, private_ok=False)


def test_a_name_with_any_private_address_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    resolving(monkeypatch, "93.184.216.34", "10.0.0.7")
    with pytest.raises(Refused, match=r"10\.0\.0\.7"):
        pinned("https://hooks.example.org/x", private_ok=False)


def test_a_message_goes_to_the_address_that_was_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    # The check and the connect use one resolution, so a second answer (DNS rebinding) is never used.
    resolving(monkeypatch, "93.184.216.34")
    target = pinned("https://user:pw@hooks.example.org:8443/in?team=7", private_ok=False)
    assert target.url == "https://user:pw@93.184.216.34:8443/in?team=7"
    assert target.headers == {"host": "hooks.example.org:8443"}
    assert target.extensions == {"sni_hostname": "hooks.example.org"}  # and the certificate is checked for it

    resolving(monkeypatch, "2001:db8::1")
    assert pinned("http://hooks.example.org/in", private_ok=True).url == "http://[2001:db8::1]/in"


def test_a_name_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(Refused, match="resolve"):
        pinned("http://no-such-host.invalid/hook", private_ok=False)


@pytest.mark.parametrize(
    "url", ["http://169.254.169.254/latest/meta-data/", "http://127.0.0.1:5432/", "http://[::1]/", "http://10.0.0.1/"]
)
async def test_a_private_address_is_refused_at_registration_naming_the_url(start: Start, url: str) -> None:
    async with start(webhook_private_targets=False) as service:
        plan, _ = await opened_plan(service)
        watcher = await service.token(plan, "watcher")

        refused = problem(
            await service.client.post(f"/v1/plans/{plan}/webhooks", json={"url": url}, headers=watcher), 422
        )

        assert refused["field"] == "url"
        assert "not a public address" in refused["detail"]


async def test_a_name_resolving_to_a_private_address_is_not_called(start: Start, receiver: Receiver) -> None:
    async with start(webhook_private_targets=False, webhook_max_attempts=2) as service:
        plan, boss = await opened_plan(service)
        hook = await register(service, plan, boss, url=receiver.url.replace("127.0.0.1", "localhost"))
        await post_change(service, f"/v1/plans/{plan}/objections", soft_objection(), boss)

        deadline = time.monotonic() + 10
        while not (log := await deliveries(service, plan, hook["id"], boss)) or log[-1]["status"] != "failed":
            assert time.monotonic() < deadline, log
            await asyncio.sleep(0.05)

    assert receiver.received == []
    assert {a["error"] for d in log for a in d["attempts"]} == {"unreachable"}


async def test_a_stakeholder_has_at_most_the_servers_number_of_webhooks(start: Start, receiver: Receiver) -> None:
    async with start(webhooks_per_stakeholder=2) as service:
        plan, boss = await opened_plan(service)
        watcher = await service.token(plan, "watcher")
        first = await register(service, plan, watcher, url=receiver.url)
        await register(service, plan, watcher, url=receiver.url + "/2")

        refused = problem(
            await service.client.post(f"/v1/plans/{plan}/webhooks", json={"url": receiver.url}, headers=watcher), 409
        )
        assert "2 webhooks" in refused["detail"]
        await register(service, plan, boss, url=receiver.url)  # the cap is per stakeholder
        deleted = await service.client.delete(f"/v1/plans/{plan}/webhooks/{first['id']}", headers=watcher)
        assert deleted.status_code == 204
        await register(service, plan, watcher, url=receiver.url)


async def test_a_hanging_receiver_delays_only_its_own_messages(start: Start, receiver: Receiver, hanging: str) -> None:
    async with start(webhook_timeout_s=4.0) as service:
        plan_a, boss_a = await opened_plan(service)
        watcher = await service.token(plan_a, "watcher")
        for n in range(6):
            await register(service, plan_a, watcher, url=f"{hanging}/{n}", reminders=[])
        await post_change(service, f"/v1/plans/{plan_a}/objections", soft_objection(), boss_a)
        await asyncio.sleep(0.5)  # the six messages are being sent to the receiver that never answers

        plan_b, boss_b = await opened_plan(service)
        await register(service, plan_b, boss_b, url=receiver.url, reminders=[])
        started = time.monotonic()
        await post_change(service, f"/v1/plans/{plan_b}/objections", soft_objection(), boss_b)

        await receiver.wait_for(1, "version.created", wait_s=10)
        assert time.monotonic() - started < 4  # not behind six 4 s timeouts

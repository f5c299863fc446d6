"""The Voilà server's kernel client never waits blind: a wait without a deadline is a series of
short polls, so a wake-up the event loop misses costs a moment, not the stakeholder's page."""
from __future__ import annotations

import asyncio
import json
from queue import Empty

import pytest
from jupyter_server.services.kernels.kernelmanager import ServerKernelManager
from traitlets.config import Config

from browser_support import ROOT
from churn_workbench.dashboard import kernel_client
from churn_workbench.dashboard.kernel_client import DashboardKernelClient, LookingChannel


class _MissedWakeups:
    """A socket whose event-loop wake-ups are lost: only a poll that ends by its deadline (and then
    asks the socket) sees the message."""
    def __init__(self, lost: int):
        self.lost, self.polls = lost, []

    async def poll(self, timeout_ms):
        self.polls.append(timeout_ms)
        if timeout_ms is None:
            await asyncio.Event().wait()  # a blind wait whose wake-up never comes
        return 0 if len(self.polls) <= self.lost else 1


def _channel(socket) -> LookingChannel:
    channel = LookingChannel.__new__(LookingChannel)
    channel.socket = socket

    async def recv(**_):
        return {"msg_type": "execute_reply"}
    channel._recv = recv
    return channel


def test_a_wait_without_deadline_looks_again_until_the_reply_is_there(monkeypatch):
    monkeypatch.setattr(kernel_client, "SLICE_S", 0.01)
    socket = _MissedWakeups(lost=3)
    reply = asyncio.run(asyncio.wait_for(_channel(socket).get_msg(), timeout=30))
    assert reply == {"msg_type": "execute_reply"}
    assert socket.polls == [10, 10, 10, 10] and None not in socket.polls


def test_a_wait_with_a_deadline_keeps_it():
    socket = _MissedWakeups(lost=10)
    with pytest.raises(Empty):
        asyncio.run(_channel(socket).get_msg(timeout=0.5))
    assert socket.polls == [500]


def test_voila_json_makes_it_the_kernel_managers_client():
    config = Config(json.loads((ROOT / "voila.json").read_text()))
    manager = ServerKernelManager(config=config)
    client = manager.client()
    assert isinstance(client, DashboardKernelClient)
    assert all(getattr(client, f"{name}_channel_class") is LookingChannel
               for name in ("shell", "iopub", "stdin", "control"))

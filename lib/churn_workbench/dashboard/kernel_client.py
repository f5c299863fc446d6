"""The client the Voilà server runs the dashboard notebook with: it never waits blind for a kernel.

Voilà executes the notebook through nbclient, which waits for each cell's reply with no deadline
(`get_msg(timeout=None)`: one poll on the socket, woken only by the event loop). On a busy
machine that wake-up was seen to go missing: the kernel had run the cell and answered, the server
never looked again, and the stakeholder's page stayed at "Executing 1 of 2" for good. A poll
with a deadline ends by asking the socket itself whether a message is waiting, so here a wait
without a deadline is a series of one-second waits: a missed wake-up costs at most a second, and
a cell that runs long still may (there is still no deadline for the cell as a whole).

voila.json makes this the kernel managers' client class.
"""
from __future__ import annotations

from queue import Empty
from typing import Any

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.channels import AsyncZMQSocketChannel
from traitlets import Type

# How long one wait lasts before the socket is asked directly (seconds).
SLICE_S = 1.0


class LookingChannel(AsyncZMQSocketChannel):
    async def get_msg(self, timeout: float | None = None) -> dict[str, Any]:
        if timeout is not None:
            return await super().get_msg(timeout)
        while True:
            try:
                return await super().get_msg(SLICE_S)
            except Empty:
                continue


class DashboardKernelClient(AsyncKernelClient):
    shell_channel_class = Type(LookingChannel)
    iopub_channel_class = Type(LookingChannel)
    stdin_channel_class = Type(LookingChannel)
    control_channel_class = Type(LookingChannel)

"""A queue consumer that acknowledges a message only once mParticle accepted its batch.

The queue here is a stand-in with the shape of a real one (Kafka, SQS, Redis Streams,
RabbitMQ): messages with ids, ``ack`` to delete one, ``nack`` to have it delivered again. The
worker turns each message into a batch, hands it to a spooled uploader and attaches a callback
to the batch's receipt: accepted, the message is acknowledged; handed back, it is returned to
the queue. Awaiting nothing per message, it keeps thousands in flight and the uploader batches
them. The spool keeps every added batch on disk until it is delivered, so a worker killed
between ``add`` and the acknowledgement loses nothing: the next one sends what it finds.

Run it against the emulator (``mp-async emulator --port 8080`` in another shell, with the
``MPARTICLE_*`` variables it prints)::

    python -m examples.queue_worker
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable
from typing import Any

import attrs

from mp_async import MParticle
from mp_async.api.events import Receipt


@attrs.define
class Message:
    id: int
    body: dict[str, Any]


class MessageQueue:
    """An in-memory queue with at-least-once delivery, shaped like the real ones."""

    def __init__(self, bodies: Iterable[dict[str, Any]]) -> None:
        self._ready = deque(Message(n, body) for n, body in enumerate(bodies))
        self.unacknowledged: dict[int, Message] = {}
        self.acknowledged: list[int] = []

    def receive(self) -> Message | None:
        if not self._ready:
            return None
        message = self._ready.popleft()
        self.unacknowledged[message.id] = message
        return message

    def ack(self, message: Message) -> None:
        del self.unacknowledged[message.id]
        self.acknowledged.append(message.id)

    def nack(self, message: Message) -> None:
        self._ready.append(self.unacknowledged.pop(message.id))


def to_batch(body: dict[str, Any]) -> dict[str, Any]:
    """The message's order as an Events API batch."""
    return {
        "environment": "production",
        "user_identities": {"customer_id": body["customer_id"]},
        "events": [
            {
                "event_type": "custom_event",
                "data": {
                    "event_name": "purchase",
                    "custom_event_type": "transaction",
                    "custom_attributes": {"total": str(body["total"])},
                },
            }
        ],
    }


async def consume(mp: MParticle, queue: MessageQueue, spool: str) -> None:
    """Drain ``queue`` into mParticle, acknowledging each message once its batch is accepted."""

    def settle(message: Message) -> Any:
        def done(receipt: Receipt) -> None:
            if receipt.accepted:
                queue.ack(message)
            else:
                queue.nack(message)  # handed back: the queue delivers it again

        return done

    async with mp.events.uploader(spool=spool, on_failure=lambda failed: None) as up:
        while (message := queue.receive()) is not None:
            receipt = await up.add(to_batch(message.body))
            receipt.add_done_callback(settle(message))


async def main() -> None:
    orders = ({"customer_id": f"c-{n}", "total": 10 + n} for n in range(1000))
    queue = MessageQueue(orders)
    async with MParticle.from_env() as mp:
        await consume(mp, queue, "queue_worker.spool")
    print(f"acknowledged {len(queue.acknowledged)}, left {len(queue.unacknowledged)}")


if __name__ == "__main__":
    asyncio.run(main())

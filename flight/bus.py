"""A publish/subscribe bus between components: the only way a component sends data to another.

Handlers run synchronously in the publisher's thread; an active component's handler therefore
only enqueues. Topics and message types are documented by the components that publish them.
"""
from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any, Callable

Handler = Callable[[Any], None]


class Bus:
    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        self._lock = threading.Lock()

    def subscribe(self, topic: str, handler: Handler) -> None:
        with self._lock:
            self._handlers[topic].append(handler)

    def publish(self, topic: str, message: Any) -> int:
        """Deliver ``message`` to every subscriber of ``topic``; return how many received it."""
        with self._lock:
            handlers = list(self._handlers.get(topic, ()))
        for handler in handlers:
            handler(message)
        return len(handlers)

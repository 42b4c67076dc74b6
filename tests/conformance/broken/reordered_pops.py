"""A node whose queues hand out the newest message first (defect: pops reordered). The
queue is rotated before each take, so a pop (and a peek) gets the last message in."""

from collections import deque
from typing import Any

from isthmus.transport.queues import QueueEngine

_queue_for = QueueEngine._queue_for


def _newest_first(self: QueueEngine, *args: Any) -> deque[Any] | None:
    queue = _queue_for(self, *args)
    if queue is not None and len(queue) > 1:
        queue.rotate(1)
    return queue


QueueEngine._queue_for = _newest_first  # type: ignore[method-assign]

from isthmus.cli.main import main  # noqa: E402 - the patch must come first

main()

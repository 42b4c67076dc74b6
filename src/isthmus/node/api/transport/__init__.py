"""The transport plane's faces (BFIA part 4), all in this room.

* ``routes``: the east-west ``chan/*`` routes partners deliver to, and the admin's
  transport sessions (north-south, for the scheduler and operators);
* ``south_north``: the plain ASGI app local components push to and pop from;
* ``servicers``: the same two faces over gRPC.

The behaviour behind them (queues, delivery, forwarding) is ``isthmus.transport``.
"""

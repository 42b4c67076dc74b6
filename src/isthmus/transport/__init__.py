"""The node's transport module (BFIA part 4): durable queues between local algorithm
components and partner nodes.

South-north, components push and pop through the node they run beside; east-west, nodes
carry the messages to each other. This package holds the behaviour:

* ``queues``: the queue engine, the single authority over every queue and its rules;
* ``service``: the facade, the one way the node and its faces reach the queues;
* ``forwarder``: the east-west hop that carries the out queue to partners (and
  ``partner_address``, where a partner's messages go);
* ``codec``: the bytes partners exchange, and the one protobuf read of the transport.

The HTTP and gRPC faces live in ``isthmus.node.api.transport``.
"""

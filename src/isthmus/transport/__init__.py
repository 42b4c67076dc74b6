"""The node's transport module (BFIA part 4): durable queues between local algorithm
components and partner nodes.

South-north, components push and pop through the node they run beside; east-west, nodes
carry the messages to each other. This package holds the behaviour; the HTTP and gRPC
faces live in ``isthmus.node``.
"""

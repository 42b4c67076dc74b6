"""The ``isthmus`` command. It talks to a node's admin API, never to its database."""

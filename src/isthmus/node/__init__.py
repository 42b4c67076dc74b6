"""The node: configuration, the interconn (east-west) and admin (north-south) apps, request
authentication, logging, metrics and the process that serves them."""

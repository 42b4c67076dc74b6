"""The kit's checks, one module per area; ``checks.every`` imports them all, which
registers every check (``isthmus.conformance.registry``). This package's own module
imports nothing, so a check module may import its siblings without a circle."""

"""occo: an Occopus-compatible infrastructure lifecycle manager.

Import is side-effect free; heavy modules load on first use.
"""

__version__ = "0.1.0"

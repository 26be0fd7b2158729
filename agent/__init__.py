"""hwagent: hardware health and recovery agent for Linux servers."""

__version__ = "0.1.0"

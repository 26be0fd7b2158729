"""Keep OpenSSL out of the agent's processes when nothing in them needs it.

Two standard-library modules load OpenSSL (libcrypto, ~3.4 MB of resident memory, and libssl)
only as an optional accelerator or feature: ``hashlib`` uses it for its digests when present and
has built-in SHA-1/SHA-2/SHA-3/BLAKE2 otherwise (same results; the agent hashes a few KB), and
asyncio imports ``ssl`` only for TLS transports. Importing them while the accelerator module is
hidden makes them take their documented fallback; ``import ssl`` by anything later still works
(a web config with TLS loads it before asyncio, see agent.cli.run). Both are no-ops when the
module is already imported (tests, library use).
"""

from __future__ import annotations

import importlib
import sys


def _import_without(module: str, hidden: str) -> None:
    if module in sys.modules or hidden in sys.modules:
        return
    sys.modules[hidden] = None  # type: ignore[assignment]  # makes `import hidden` raise ImportError
    try:
        importlib.import_module(module)
    finally:
        del sys.modules[hidden]


def hashlib_without_openssl() -> None:
    """hashlib with its built-in digests (the agent uses sha1 and sha256 only)."""
    _import_without("hashlib", "_hashlib")


def asyncio_without_tls() -> None:
    """asyncio without the ssl module (plain-HTTP /metrics)."""
    _import_without("asyncio", "ssl")

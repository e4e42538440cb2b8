"""Baton's sandbox: try Baton in a browser, with a fake phone and a fake Slack workspace.

``python -m sandbox`` runs it; nothing in Baton itself imports this package.
"""

from __future__ import annotations

from sandbox.server import Sandbox

__all__ = ["Sandbox"]

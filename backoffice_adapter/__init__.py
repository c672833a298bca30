"""Forwarding submissions to the office's document workflow (EZD, the built-in desk …) and back."""

# Importing the adapters registers them by name. The portal registers its own (the desk, the WS-Pull inbox) at
# start-up, and hands the outbox what it needs from the portal (backoffice_adapter/hooks.py).
from backoffice_adapter import directory, ezdrp, smtp, webhook  # noqa: F401

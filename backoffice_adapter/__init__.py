"""Forwarding submissions to the office's document workflow (EZD, the built-in desk …) and back."""

# Importing the adapters registers them by name.
from backoffice_adapter import desk, directory, epuap_pull, ezdrp, smtp, webhook  # noqa: F401

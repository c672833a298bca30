"""Forwarding submissions to the office's document workflow (EZD, the built-in desk …) and back."""

from backoffice_adapter import desk, directory, smtp, webhook  # noqa: F401 - registers the built-in adapters

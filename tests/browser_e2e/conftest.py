"""Browser journeys end to end: one chromium per module (tests.browser), a fresh context per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.browser import GUIDE_VIEWPORT, browser  # noqa: F401 - the module-scoped fixture


@pytest.fixture
def context(browser) -> Iterator[object]:  # noqa: F811
    context = browser.new_context(locale="pl-PL", viewport=GUIDE_VIEWPORT, accept_downloads=True)
    yield context
    context.close()


@pytest.fixture
def page(context) -> object:  # noqa: ANN001
    return context.new_page()

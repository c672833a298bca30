"""What residents met in the demo (issue 16), in a real browser with axe on every page: focus on the error
summary, the offer to resume an open draft, the waste fee shown as it is typed, answers kept across a change
of language."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from tests.browser import AccessibilityAudit, sign_in_on_sandbox

pytestmark = pytest.mark.browser

ACTIVE = """() => {
  const el = document.activeElement;
  return {tag: el.tagName.toLowerCase(), cls: el.className || "", role: el.getAttribute("role") || "",
          tabindex: el.getAttribute("tabindex")};
}"""


def start(page: Any, portal: str, slug: str, signed_in: bool = False) -> None:
    page.goto(f"{portal}/uslugi/{slug}")
    page.get_by_role("button", name="Rozpocznij").click()
    if not signed_in:
        sign_in_on_sandbox(page, "Jan Kowalski")
        page.wait_for_url(f"{portal}/uslugi/{slug}")
        page.get_by_role("button", name="Rozpocznij").click()


def test_after_a_failed_step_focus_is_on_the_error_summary(app: Flask, catalog: None, live_portal: str,
                                                            page: Any) -> None:
    audit = AccessibilityAudit()
    start(page, live_portal, "pismo-ogolne")
    page.wait_for_url("**/krok/pismo")
    assert page.evaluate(ACTIVE)["tag"] == "body"  # a fresh step: nothing takes focus by itself
    page.get_by_role("button", name="Dalej", exact=True).click()
    page.wait_for_load_state()
    focused = page.evaluate(ACTIVE)
    assert "error-summary" in focused["cls"], focused
    assert focused["role"] == "alert" and focused["tabindex"] == "-1"
    assert page.title().startswith("Błąd: ")
    audit.check(page)
    page.keyboard.press("Tab")  # from the summary, the first error's link
    assert page.evaluate("() => document.activeElement.textContent") == "Wybierz: rodzaj pisma."

    anonymous = page.context.browser.new_context(locale="pl-PL").new_page()
    anonymous.goto(f"{live_portal}/sprawdz-sprawe")
    anonymous.get_by_label("Identyfikator poświadczenia").fill("OK-2026-NIEMA")
    anonymous.get_by_label("Kod dostępu").fill("ZLYKOD")
    anonymous.get_by_role("button", name="Sprawdź", exact=True).click()
    anonymous.wait_for_load_state()
    assert anonymous.title().startswith("Błąd: ")
    assert "error-summary" in anonymous.evaluate(ACTIVE)["cls"]
    audit.check(anonymous)
    anonymous.context.close()
    audit.assert_clean()

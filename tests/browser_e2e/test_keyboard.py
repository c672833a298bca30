"""One whole form by keyboard alone (WCAG 2.1.1, 2.4.3, 2.4.7): Tab, Shift+Tab, Space, Enter and the arrow
keys, never a click — from the service page through login, the error summary, the step and the summary to
the signature and the receipt. Every element that takes focus on the portal must show it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from tests.browser import AccessibilityAudit

pytestmark = pytest.mark.browser

FOCUSED = """() => {
  const el = document.activeElement;
  const style = getComputedStyle(el);
  return {tag: el.tagName.toLowerCase(), id: el.id, name: el.name || "", type: el.type || "",
          value: el.value || "", checked: !!el.checked,
          text: (el.innerText || el.value || "").trim().replace(/\\s+/g, " "),
          outline: style.outlineStyle, outlineWidth: parseFloat(style.outlineWidth) || 0};
}"""


class Keyboard:
    """Presses keys and watches where focus goes; on the portal's own pages focus must always be visible."""

    def __init__(self, page: Any, portal: str) -> None:
        self.page = page
        self.portal = portal
        self.visited: list[str] = []

    def focused(self) -> dict[str, Any]:
        return self.page.evaluate(FOCUSED)

    def press(self, key: str) -> dict[str, Any]:
        self.page.keyboard.press(key)
        now = self.focused()
        if self.page.url.startswith(self.portal) and now["tag"] != "body":
            self.visited.append(now["text"] or now["id"])
            assert now["outline"] != "none" and now["outlineWidth"] >= 2, f"focus is not visible on {now}"
        return now

    def to(self, wanted: Callable[[dict[str, Any]], bool], key: str = "Tab", limit: int = 60) -> dict[str, Any]:
        for _ in range(limit):
            now = self.press(key)
            if wanted(now):
                return now
        raise AssertionError(f"{key} never reached the element; focus went through {self.visited[-limit:]}")

    def activate(self, text: str, key: str = "Tab", loads: bool = True) -> None:
        """Move focus to the link or button showing `text` and press Enter (waiting for the page it loads)."""
        self.to(lambda f: f["text"] == text, key)
        if not loads:
            self.page.keyboard.press("Enter")
            return
        with self.page.expect_navigation():
            self.page.keyboard.press("Enter")


def test_a_whole_form_by_keyboard_alone(app: Flask, catalog: None, live_portal: str, page: Any) -> None:
    audit = AccessibilityAudit()
    keys = Keyboard(page, live_portal)
    page.goto(f"{live_portal}/uslugi/pismo-ogolne")
    audit.check(page)
    first = keys.press("Tab")
    assert first["text"] == "Przejdź do treści", "the skip link must come first"
    keys.activate("Rozpocznij")

    page.wait_for_url("**/wk/authorize**")
    audit.check(page)
    keys.activate("Zaloguj jako Jan Kowalski")
    page.wait_for_url(f"{live_portal}/uslugi/pismo-ogolne")
    keys.activate("Rozpocznij")
    page.wait_for_url("**/krok/pismo")
    audit.check(page)

    keys.activate("Dalej")  # nothing answered: the error summary
    assert page.locator(".error-summary").is_visible()
    audit.check(page)
    keys.activate("Wybierz: rodzaj pisma.", loads=False)
    assert keys.focused()["id"] == "rodzaj", "the error's link must move focus to its question"
    keys.activate("Uzupełnij pole „Treść pisma”.", key="Shift+Tab", loads=False)  # back into the summary, its last link
    assert keys.focused()["id"] == "tresc"
    page.keyboard.type("Proszę o naprawę zapadniętych płyt chodnika przed numerem 12.")
    assert keys.press("Shift+Tab")["id"] == "tytul"
    page.keyboard.type("Naprawa chodnika")

    radio = keys.press("Shift+Tab")  # into the radio group, from its end
    assert radio["name"] == "rodzaj" and radio["type"] == "radio"
    page.keyboard.press("Space")
    assert keys.focused()["checked"]
    moved = keys.press("ArrowUp")
    assert moved["name"] == "rodzaj" and moved["checked"] and moved["value"] != radio["value"]
    assert page.locator("input[name=rodzaj]:checked").get_attribute("value") == moved["value"]

    assert keys.press("Tab")["id"] == "tytul"
    assert keys.press("Tab")["id"] == "tresc"
    assert keys.press("Tab")["id"] == "miejscowosc" and keys.focused()["value"] == "Leszno"
    keys.activate("Dalej")
    page.wait_for_url("**/krok/zalaczniki")  # optional: past it by keyboard too
    audit.check(page)
    keys.activate("Dalej")
    page.wait_for_url("**/podsumowanie")
    assert "Naprawa chodnika" in page.inner_text("main")
    audit.check(page)

    keys.activate("Dane są poprawne — przejdź do podpisu")
    page.wait_for_url("**/podpis")
    audit.check(page)
    keys.activate("Podpisz profilem zaufanym i złóż pismo")
    page.wait_for_url("**/tpsigning5/podpis/**")
    audit.check(page)
    keys.activate("Podpisz profilem zaufanym")
    page.wait_for_url("**zlozono=1")
    assert page.get_by_role("heading", name="Pismo zostało złożone").is_visible()
    audit.check(page)
    audit.assert_clean()

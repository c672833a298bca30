"""End to end over HTTP: `okienko smoke` files a letter through the live portal, the dispatcher
forwards it, and a clerk finds it in the incoming register."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import requests
from flask import Flask
from lxml import html

from backoffice_adapter import outbox

pytestmark = pytest.mark.e2e
OKIENKO = str(Path(sys.executable).with_name("okienko"))


def test_smoke_files_a_letter_and_the_clerk_receives_it(app: Flask, catalog: None, live_portal: str, pki: Path,
                                                        tmp_path: Path) -> None:
    result = subprocess.run([OKIENKO, "smoke", "--base-url", live_portal, "--out", str(tmp_path),
                             "--trust", str(pki / "ca.pem")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "check the receipt: OK-" in result.stdout
    assert {p.name for p in tmp_path.iterdir()} >= {"document.xml", "upo.xml", "upo.pdf"}
    for signed in ("document.xml", "upo.xml"):
        checked = subprocess.run(["xmlsec1", "--verify", "--enabled-key-data", "x509", "--trusted-pem",
                                  str(pki / "ca.pem"), str(tmp_path / signed)], capture_output=True, text=True)
        assert checked.returncode == 0, (signed, checked.stderr)

    with app.app_context():
        assert outbox.run_once() == 1

    clerk = requests.Session()
    login = clerk.get(f"{live_portal}/urzad/logowanie", timeout=10)
    chooser = html.fromstring(login.content, base_url=login.url).xpath("//main//form")[0]
    register = clerk.post(chooser.action if chooser.action.startswith("http") else login.url,
                          data={"account": "k.zielinska"}, timeout=10)
    assert register.url.startswith(f"{live_portal}/urzad/")
    page = html.fromstring(register.content)
    headers = [" ".join(th.text_content().split()) for th in page.xpath("//thead//th")]
    rows = page.xpath("//tbody/tr")
    assert len(rows) == 1
    cells = {header: " ".join(td.text_content().split()) for header, td in zip(headers, rows[0].xpath("td"),
                                                                                   strict=False)}
    assert cells["Numer RPW"].startswith("RPW/1/")
    assert "Jan Kowalski" in cells["Nadawca"]


def test_smoke_names_the_step_that_fails(tmp_path: Path) -> None:
    result = subprocess.run([OKIENKO, "smoke", "--base-url", "http://127.0.0.1:9", "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "FAILED at step 'portal reachable'" in result.stderr

"""The sandbox application: both identity providers and TpSigning5 in one process."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask, Response, render_template, request

from sandbox import edoreczenia, oidc, people, qualified, tpsigning, tsa, tsl
from sandbox import pki as sandbox_pki


def create_app(pki_dir: Path, public_url: str, portal_url: str, state_dir: Path | None = None) -> Flask:
    """`public_url` is where browsers reach the sandbox; `portal_url` is the relying party it serves;
    `state_dir` keeps what must survive a restart (the e-Doręczenia mailboxes), by default beside the PKI."""
    # The sandbox runs on loopback over plain HTTP, as the official integration simulators allow.
    os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")
    sandbox_pki.generate(pki_dir, crl_url=f"{public_url.rstrip('/')}/pki/ca.crl")
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=secrets.token_hex(32),
        SESSION_COOKIE_NAME="sandbox_session",
        SESSION_COOKIE_SAMESITE="Lax",
        SANDBOX_PUBLIC_URL=public_url.rstrip("/"),
        TP_ROLE_FORMAT="EPSignature",
    )
    portal = portal_url.rstrip("/")
    residents = oidc.Provider(
        name="wk",
        title="login.gov.pl — Węzeł Krajowy (SANDBOX)",
        prefix="/wk",
        acr=oidc.LOA_SUBSTANTIAL,
        accounts=[oidc.Account(p.pesel, p.name, f"PESEL {p.pesel}, {p.street} {p.building}, {p.town}"
                               + (" — e-dowód (poziom wysoki)" if p.loa == "high" else ""),
                               oidc.resident_claims(p), oidc.LOA[p.loa]) for p in people.RESIDENTS]
        + [oidc.Account(f.identifier, f.name, f"{f.country}, eIDAS — bez numeru PESEL", oidc.foreign_claims(f),
                        oidc.LOA["high"]) for f in people.FOREIGN],
        clients={"okienko": oidc.Client("okienko", "okienko-sandbox-secret",
                                        [f"{portal}/logowanie/powrot"], [f"{portal}/"])},
    )
    clerks = oidc.Provider(
        name="office_idp",
        title="Logowanie pracowników urzędu (SANDBOX)",
        prefix="/office-idp",
        accounts=[oidc.Account(c.username, c.name, f"{c.username} — {c.unit}, {', '.join(c.roles)}",
                               oidc.clerk_claims(c)) for c in people.CLERKS],
        clients={"okienko-desk": oidc.Client("okienko-desk", "okienko-desk-sandbox-secret",
                                             [f"{portal}/urzad/logowanie/powrot"], [f"{portal}/urzad/"])},
    )
    oidc.build(app, residents, public_url, session_key="wk_user")
    oidc.build(app, clerks, public_url, session_key="office_user")
    tpsigning.build(app, pki_dir)
    app.register_blueprint(edoreczenia.build(state_dir or pki_dir.parent / "sandbox-state", pki_dir))

    @app.get("/")
    def index() -> str:
        return render_template("index.html", residents=people.RESIDENTS, clerks=people.CLERKS, office=people.OFFICE)

    @app.route("/kwalifikowany", methods=["GET", "POST"])
    def qualified_signer() -> Any:
        """A stand-in for desktop signing software with the demo qualified certificates: residents sign
        their XML submissions; clerks sign the office's letters (XML: XAdES, PDF: PAdES)."""
        if request.method == "GET":
            return render_template("qualified.html", residents=people.RESIDENTS, clerks=people.CLERKS)
        upload = request.files.get("dokument")
        choice = request.form.get("certyfikat", "")
        person = people.resident(choice)
        clerk = people.clerk(choice.removeprefix("urzednik:")) if choice.startswith("urzednik:") else None
        if upload is None or (person is None and clerk is None):
            return render_template("error.html", provider=None, error="bad_request",
                                   description="Wybierz dokument i certyfikat."), 400
        folder, stem = (pki_dir / "residents", person.pesel) if person else (pki_dir / "clerks", clerk.username)
        cert, key = (folder / f"{stem}.pem").read_bytes(), (folder / f"{stem}.key").read_bytes()
        name = Path(upload.filename or "dokument.xml").name
        content = upload.read()
        if content.startswith(b"%PDF"):
            signed = qualified.sign_pdf(content, cert, key)
            response = Response(signed, mimetype="application/pdf")
            response.headers["Content-Disposition"] = f'attachment; filename="{name.replace(".pdf", "")}-podpisany.pdf"'
            return response
        detached = request.form.get("rodzaj") == "zewnetrzny"
        signed = qualified.sign(content, cert, key, detached_name=name if detached else None)
        response = Response(signed, mimetype="application/xml")
        filename = f"{name}.xades" if detached else name.replace(".xml", "-podpisany.xml")
        response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response

    @app.post("/tsa")
    def timestamp() -> Response:
        """RFC 3161 time-stamping for the office's receipts (XAdES-T) and signed PDFs."""
        if request.mimetype != "application/timestamp-query" or not request.data:
            return Response("expected application/timestamp-query", status=400)
        return Response(tsa.respond(pki_dir, request.get_data()), mimetype="application/timestamp-reply")

    @app.get("/pki/ca.crl")
    def crl() -> Response:
        return Response(sandbox_pki.crl(pki_dir), mimetype="application/pkix-crl")

    @app.get("/pki/ca.pem")
    def ca() -> Response:
        return Response((pki_dir / "ca.pem").read_bytes(), mimetype="application/x-pem-file")

    @app.get("/pki/tsl.xml")
    def trusted_list() -> Response:
        return Response(tsl.build(pki_dir), mimetype="application/xml")

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app

"""`python -m sandbox run` starts the sandbox; `python -m sandbox pki DIR` makes its test PKI."""

from __future__ import annotations

import argparse
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="serve the sandbox identity providers and TpSigning5")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=5001)
    run.add_argument("--pki", type=Path, default=Path("instance/pki"))
    run.add_argument("--public-url", default=None, help="address browsers use (default http://HOST:PORT)")
    run.add_argument("--portal-url", default="http://127.0.0.1:5000")
    run.add_argument("--state", type=Path, default=Path("instance/sandbox-state"),
                     help="where the sandbox keeps state that survives a restart (e-Doręczenia mailboxes)")
    pki = sub.add_parser("pki", help="create the sandbox test PKI")
    pki.add_argument("directory", type=Path)
    pki.add_argument("--force", action="store_true")
    pki.add_argument("--crl-url", default="http://127.0.0.1:5001/pki/ca.crl",
                     help="where certificates say the CA's CRL is (the sandbox serves it at /pki/ca.crl)")
    args = parser.parse_args()

    if args.command == "pki":
        from sandbox import pki as sandbox_pki

        made = sandbox_pki.generate(args.directory, crl_url=args.crl_url, force=args.force)
        print(f"{'created' if made else 'kept existing'} sandbox PKI in {args.directory}")
        return

    import logging

    from werkzeug.serving import make_server

    from sandbox import people
    from sandbox.app import create_app

    public_url = args.public_url or f"http://{args.host}:{args.port}"
    args.state.mkdir(parents=True, exist_ok=True)
    app = create_app(args.pki.resolve(), public_url, args.portal_url, args.state.resolve())
    print(f"Sandbox services on {public_url}/ (SANDBOX — test data only)", flush=True)
    print("  Demo residents (login.gov.pl stand-in):", flush=True)
    for person in people.RESIDENTS:
        print(f"    {person.name:<28} PESEL {person.pesel}", flush=True)
    print("  e-Doręczenia (SANDBOX) mailboxes:", flush=True)
    print(f"    {people.OFFICE.name:<28} {people.OFFICE.e_delivery_address}  (API client okienko-leszno)", flush=True)
    for person in people.E_DELIVERY_RESIDENTS:
        print(f"    {person.name:<28} {person.e_delivery_address}  {public_url}/edoreczenia/skrzynka/"
              f"{person.e_delivery_address}", flush=True)
    print("  Demo clerks (office identity provider):", flush=True)
    for clerk in people.CLERKS:
        print(f"    {clerk.name:<28} {clerk.username:<14} {clerk.unit}: {', '.join(clerk.roles)}", flush=True)
    # One process on purpose: the providers keep their codes and tokens in memory. Served without werkzeug's
    # development-server banner and its line per request: what `make run` shows is the addresses and the
    # accounts (the sandbox is a development server by nature, and says SANDBOX above); errors still show.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server(args.host, args.port, app, threaded=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()

"""Verifying a trusted-profile signature on a 5 KB and a 1 MB document, on one core.

Target (issue 5): at most 5 ms per 5 KB verification. Revocation is off (the CRL would be
fetched once per ten minutes and cached, so it does not belong in the per-document figure).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.report import percentiles, write_section

NAME = "Signature verification"


def _document(size: int) -> bytes:
    paragraph = "Zażółć gęślą jaźń — treść pisma do urzędu. " * 20
    body = "".join(f"<Akapit>{paragraph}</Akapit>" for _ in range(max(1, size // (len(paragraph.encode()) + 20))))
    return f'<?xml version="1.0" encoding="UTF-8"?><Dokument xmlns="urn:bench">{body}</Dokument>'.encode()


def run(rounds: int = 300) -> str:
    from portal.signing import verify
    from sandbox import people
    from sandbox.tpsigning import xades

    with tempfile.TemporaryDirectory() as folder:
        pki = Path(folder)
        subprocess.run([sys.executable, "-m", "sandbox", "pki", str(pki)], check=True, capture_output=True)
        policy = verify.Policy.from_pem_files(pki / "ca.pem", revocation_mode="offline")
        rows = []
        for label, size, count in (("5 KB", 5 * 1024, rounds), ("1 MB", 1024 * 1024, max(10, rounds // 20))):
            document = _document(size)
            signed = xades.sign(document, people.RESIDENTS[0], (pki / "tp-seal.pem").read_bytes(),
                                (pki / "tp-seal.key").read_bytes())
            samples = []
            for _ in range(count):
                start = time.perf_counter()
                verdict = verify.verify(signed, policy, expected_document=document, resident_pesel="80010112357")
                samples.append((time.perf_counter() - start) * 1000)
                assert verdict.valid, verdict.reasons
            stats = percentiles(samples[2:])  # the first runs warm caches
            rows.append(f"| {label} ({len(signed) / 1024:.0f} KiB signed) | {count} | {stats['p50']:.2f} | "
                        f"{stats['p95']:.2f} | {stats['p99']:.2f} |")
    body = ("Whole policy: parsing, shape, xmlsec cryptography, XAdES properties, signer, content comparison "
            "and certificate path validation (pyhanko-certvalidator), single thread.\n\n"
            "| Document | Runs | p50 ms | p95 ms | p99 ms |\n| --- | --- | --- | --- | --- |\n" + "\n".join(rows)
            + "\n\nTarget: ≤ 5 ms per 5 KB verification on one core.")
    write_section(NAME, body)
    return body

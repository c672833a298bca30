"""Sandbox stand-ins for the government services Okienko cannot reach from a developer's machine.

It speaks the same protocols as login.gov.pl (through an OIDC broker), the office's own
identity provider and pz.gov.pl's TpSigning5, with real cryptography under its own test
CA. It shares no code with `portal/`: a stand-in that reused the portal's verifier would
prove nothing.
"""

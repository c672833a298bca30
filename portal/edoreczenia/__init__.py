"""e-Doręczenia: letters and decisions to residents' electronic delivery addresses, with signed evidence
(docs/edoreczenia.md). `client.py` speaks the User Agent API; the rest of the package is the office's side."""

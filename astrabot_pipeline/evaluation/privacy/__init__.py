"""Could a model leak the owner's or their friends' data: the leakage scan, probing and
re-identification, canary exposure and extractable memorization (`tester.py`), and the
membership audits of records and of contacts."""

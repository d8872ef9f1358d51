"""Review app: the loss-reduction teams' web pages and JSON API, in Vietnamese.

``main.create_app`` builds the FastAPI application: the dashboard of province and branch
losses, the transformers ranked by recoverable energy, the anomaly queue and each
meter's evidence, the inspection form that writes gold ``inspections`` (the next scoring
learns from it) and the Excel export of a filtered list. Login with argon2-hashed
passwords, roles ``viewer`` / ``inspector`` / ``admin`` and per-branch access
(``users.py``, ``security.py``). It binds to 127.0.0.1 by default (``ami app``).
"""

"""Ingestion: dlt sources that bring head-end, API and billing data into bronze.

One folder per source (the dlt verified-sources layout): ``__init__.py`` holds only the
``@dlt.source``/``@dlt.resource`` definitions, parsing lives in ``helpers.py`` and
constants in ``settings.py``. Bronze keeps what was received, as received (strings),
plus lineage; typing and validation happen in ``quality/``.
"""

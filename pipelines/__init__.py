"""Ingestion: dlt sources that bring head-end, API and billing data into bronze.

One folder per source (the dlt verified-sources layout): ``__init__.py`` holds only the
``@dlt.source``/``@dlt.resource`` definitions, parsing lives in ``helpers.py`` and
constants in ``settings.py``. Bronze keeps what was received, as received (strings),
plus lineage; typing and validation happen in ``quality/``.
"""

import os
import sys

#: dlt looks for secrets in Airflow Variables by importing Airflow (about 4 s) whenever it
#: is installed. Outside an Airflow process (CLI, tests, benchmarks) there are none to find.
AIRFLOW_SECRETS_SWITCH = "PROVIDERS__ENABLE_AIRFLOW_SECRETS"
if "airflow" not in sys.modules:
    os.environ.setdefault(AIRFLOW_SECRETS_SWITCH, "false")

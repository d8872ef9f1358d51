"""Customer system (CMIS) and head-end API when configured, and the landing zone → bronze.

The Airflow DAG of the chain's stage ``ami_ingest``: its steps, their order and schedule are
declared once in ``ami.chain.STAGES``; ``dags.factory`` builds the DAG from them.
"""

from dags.factory import stage_dag

ami_ingest = stage_dag("ami_ingest")

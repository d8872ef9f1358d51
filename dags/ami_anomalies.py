"""Gold → anomaly scores: rank meters for theft and waste after each day's data.

The Airflow DAG of the chain's stage ``ami_anomalies``: its steps, their order and schedule are
declared once in ``ami.chain.STAGES``; ``dags.factory`` builds the DAG from them.
"""

from dags.factory import stage_dag

ami_anomalies = stage_dag("ami_anomalies")

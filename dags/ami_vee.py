"""Bronze → silver: meters, VEE of every stale day in date order, then the GX gate.

The Airflow DAG of the chain's stage ``ami_vee``: its steps, their order and schedule are
declared once in ``ami.chain.STAGES``; ``dags.factory`` builds the DAG from them.
"""

from dags.factory import stage_dag

ami_vee = stage_dag("ami_vee")

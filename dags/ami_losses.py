"""Silver → gold: meter-day energy and balances per day (GX-gated), then per month.

The Airflow DAG of the chain's stage ``ami_losses``: its steps, their order and schedule are
declared once in ``ami.chain.STAGES``; ``dags.factory`` builds the DAG from them.
"""

from dags.factory import stage_dag

ami_losses = stage_dag("ami_losses")

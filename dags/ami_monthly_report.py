"""The monthly feed to Sở Công Thương, built on the 2nd for the month before.

The Airflow DAG of the chain's stage ``ami_monthly_report``: its steps, their order and schedule are
declared once in ``ami.chain.STAGES``; ``dags.factory`` builds the DAG from them.
"""

from dags.factory import stage_dag

ami_monthly_report = stage_dag("ami_monthly_report")

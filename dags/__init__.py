"""Airflow 3 DAGs: wiring only.

The DAGs are built by ``dags.factory`` from the chain's declaration
(``ami.chain.STAGES``): each task runs one step's function; only small keys (dates,
months, paths) and summaries cross task boundaries. Layers are connected by assets: new
bronze data triggers VEE, new silver data triggers the gold balances, new gold triggers
anomaly scoring. This is the only package that imports Airflow. ``dags.runner`` runs
DAGs in-process for the embedded default (``ami demo``) through the same DAG definitions
that production schedules.
"""

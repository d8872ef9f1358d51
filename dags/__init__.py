"""Airflow 3 DAGs: wiring only.

Each task body is one to four calls into ``pipelines``, ``quality``, ``models``,
``warehouse`` or ``reports``; only small keys (dates, months, paths) cross task
boundaries. Layers are connected by assets: new bronze data triggers VEE, new silver
data triggers the gold balances, new gold triggers anomaly scoring. This is the only
package that imports Airflow. ``dags.runner`` runs DAGs in-process for the embedded
default (``ami demo``) through the same DAG definitions that production schedules.
"""

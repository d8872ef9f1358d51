"""Models: energy, loss balances, savings and anomaly scoring on silver data.

Plain functions and sklearn-style estimators on Polars frames; no Airflow, no printing.
Results go to the gold layer through ``warehouse``.
"""

"""Savings against the province's 2026 plan: consumption, baselines, every target's verdict.

Modules: ``consumption`` (group, branch and commune consumption against the same period
last year), ``caltrack`` (the weather-normalised baseline, LF Energy's opendsm),
``peak`` (evening peak demand), ``demand_response``, ``solar``, ``lighting`` (public and
advertising lighting), ``plan`` (every target as a figure with a verdict) and ``jobs``
(the gold tables the monthly DAG builds).
"""

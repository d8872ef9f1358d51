"""The ``ami`` command line, settings, errors and vocabulary, and the synthetic province.

``ami.cli`` is the stable command-line contract (README "Command line"), its command groups
in ``ami.commands``; ``ami.settings`` the one
frozen configuration object; ``ami.errors`` the typed exceptions every package raises;
``ami.vocabulary`` the domain's words (quality and rule values, roles, groups, event
categories, inspection outcomes) as enums, and the one reader of head-end event codes;
``ami.province`` the synthetic province used by the demo, the tests and the benchmarks;
``ami.chain`` declares the chain's stages and steps once; ``ami.orchestrate`` starts DAG
runs (in a subprocess, so this package never imports Airflow) and runs the same steps
directly for ``ami ingest``.
"""

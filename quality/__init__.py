"""Quality: VEE (validation, estimation, editing) of bronze rows into silver.

Rules are typed Polars functions that return findings or flagged rows with the rule
named; gates decide what blocks. Nothing is dropped silently: every bronze row is
accepted, corrected with the rule named, or quarantined with a reason a person can act on.
"""

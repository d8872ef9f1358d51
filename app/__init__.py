"""Review app: the loss-reduction team's web pages and API (Vietnamese first).

Shows the ranked anomaly list and balances from the gold layer. It binds to 127.0.0.1
by default. This first version is read-only; login, roles and inspection entry come
with the review-app issue.
"""

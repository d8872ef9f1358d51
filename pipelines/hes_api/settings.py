"""Constants of the HES REST API source: names, paths, paging and retry defaults."""

from __future__ import annotations

from warehouse.layout import HES_API_DATASET

PIPELINE_NAME = "ami_hes_api"
DATASET = HES_API_DATASET
RESOURCE = "readings"
SOURCE_TAG = "hes_api"
READINGS_PATH = "/api/v1/readings"
COLUMNS = ("meter_id", "interval_end", "interval_minutes", "kwh_import", "kwh_export")
DEFAULT_PAGE_SIZE = 50_000
DEFAULT_RETRIES = 5
DEFAULT_BACKOFF = 0.2  # seconds, urllib3 exponential backoff factor
DEFAULT_TIMEOUT = 30.0  # seconds per request
RETRY_STATUSES = (429, 500, 502, 503, 504)

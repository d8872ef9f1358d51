"""The Data Docs of the quality gates (``quality.gates``): a GX site that reads offline.

A GX filesystem site in ``settings.data_dir / "data_docs"`` (``index.html``, one page per
validation), built once per gate call after its Checkpoints ran (``quality.gx_run``; many
days: ``check_silver_days`` / ``check_gold_days``); validation results behind it are kept
in ``settings.data_dir / "gx" / "validations"`` for ``DOCS_RETENTION_DAYS`` (the site is
rebuilt from all of them on every call).
GX's pages load Bootstrap, jQuery and Font Awesome from CDNs. The validation pages are
rendered on the server and stay readable offline; the index's tables are filled by
jQuery, so the site uses views (``OfflinePageView``, ``OfflineIndexPageView``) that also
render those tables as plain HTML and draw pass/fail marks when the icon font is
missing. A control room without internet sees every result, only unstyled. The
templates are package data (``quality/templates``).
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from great_expectations.data_context.types.base import (
    DataContextConfig,
    InMemoryStoreBackendDefaults,
    ProgressBarsConfig,
)
from great_expectations.render.view import DefaultJinjaIndexPageView, DefaultJinjaPageView
from jinja2 import BaseLoader, ChoiceLoader, DictLoader, Environment

from ami.settings import Settings

__all__ = [
    "DOCS_SITE",
    "OfflineIndexPageView",
    "OfflinePageView",
    "data_docs_index",
    "docs_dir",
    "page_path",
    "project_config",
    "prune_results",
]

#: GX validation results (and so Data Docs pages) validated longer ago than this are
#: pruned: GX rebuilds the index from every stored result on each run, which cost +4.6 s
#: per gate with 1,400 results (a year of daily gates). The outcome of every gate stays
#: in ``_state/gx`` for good.
DOCS_RETENTION_DAYS = 62
#: Validation results listed on the Data Docs index, newest first.
DOCS_INDEX_LIMIT = 1_000

#: The site's name in the GX context.
DOCS_SITE = "ami"

#: The offline Data Docs templates (package data, ``quality/templates``), put in front of
#: GX's own: its custom styles mark pass / fail / error without the CDN's fonts, and its
#: ``bootstrap_table.j2`` writes the rows as HTML instead of leaving them to jQuery.
OFFLINE_TEMPLATES = ("data_docs_custom_styles.css", "bootstrap_table.j2")


def _offline(env: Environment) -> None:
    """Put the offline templates in front of GX's own."""
    templates = files("quality") / "templates"
    loaders: list[BaseLoader] = [DictLoader(
        {name: (templates / name).read_text(encoding="utf-8") for name in OFFLINE_TEMPLATES})]
    env.loader = ChoiceLoader([*loaders, env.loader] if env.loader else loaders)


class OfflinePageView(DefaultJinjaPageView):
    """GX's page view with the offline templates in front (validation and suite pages)."""

    def __init__(self, custom_styles_directory: str | None = None,
                 custom_views_directory: str | None = None) -> None:
        super().__init__(custom_styles_directory, custom_views_directory)
        _offline(self.env)


class OfflineIndexPageView(DefaultJinjaIndexPageView):
    """GX's index view whose tables are written as HTML, not filled in by jQuery."""

    def __init__(self, custom_styles_directory: str | None = None,
                 custom_views_directory: str | None = None) -> None:
        super().__init__(custom_styles_directory, custom_views_directory)
        _offline(self.env)


def docs_dir(*, settings: Settings) -> Path:
    """Folder of the Data Docs site (open ``index.html``)."""
    return (Path(settings.data_dir) / "data_docs").resolve()


def results_dir(settings: Settings) -> Path:
    """GX's validation results store, from which the Data Docs are built."""
    return (Path(settings.data_dir) / "gx" / "validations").resolve()


def prune_results(settings: Settings, now: datetime) -> int:
    """Delete GX results validated over ``DOCS_RETENTION_DAYS`` ago; returns the count.

    Their pages leave the site at the next index build (GX drops pages without results).
    """
    cutoff = now - timedelta(days=DOCS_RETENTION_DAYS)
    removed = 0
    # <suite>/<run_name>/<run_time>/<batch>.json, run_time as GX writes it
    for run in results_dir(settings).glob("*/*/*"):
        try:
            run_time = datetime.strptime(run.name, "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=UTC)
        except ValueError:
            continue
        if run.is_dir() and run_time < cutoff:
            shutil.rmtree(run, ignore_errors=True)  # another gate may be pruning too
            removed += 1
    return removed


def project_config(settings: Settings) -> DataContextConfig:
    """Ephemeral context: suites in memory, results and the docs site on disk."""
    defaults = InMemoryStoreBackendDefaults()
    stores = dict(defaults.stores)
    stores[defaults.validation_results_store_name] = {
        "class_name": "ValidationResultsStore",
        "store_backend": {
            "class_name": "TupleFilesystemStoreBackend",
            "base_directory": str(results_dir(settings)),
        },
    }
    offline = {"module_name": __name__, "class_name": OfflinePageView.__name__}
    site = {
        "class_name": "SiteBuilder",
        "show_how_to_buttons": False,
        "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                          "base_directory": str(docs_dir(settings=settings))},
        "site_index_builder": {
            "class_name": "DefaultSiteIndexBuilder",
            "validation_results_limit": DOCS_INDEX_LIMIT,
            "view": {"module_name": __name__, "class_name": OfflineIndexPageView.__name__},
        },
        "site_section_builders": {"expectations": {"view": offline},
                                  "validations": {"view": offline},
                                  "profiling": "None"},
    }
    return DataContextConfig(
        store_backend_defaults=defaults, stores=stores, data_docs_sites={DOCS_SITE: site},
        analytics_enabled=False, progress_bars=ProgressBarsConfig(globally=False),
    )


def page_path(context: Any, key: Any) -> Path:
    """Local path of the Data Docs page of one validation result."""
    urls = context.get_docs_sites_urls(resource_identifier=key, site_name=DOCS_SITE)
    return Path(unquote(urlparse(urls[0]["site_url"]).path))


def data_docs_index(*, settings: Settings) -> Path | None:
    """The Data Docs home page when a gate has run (for run summaries)."""
    index = docs_dir(settings=settings) / "index.html"
    return index if index.exists() else None

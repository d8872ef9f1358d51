"""Low-voltage network models from the landing zone: ``networks/<transformer_id>.json``.

Each file is a pandapower network of one transformer's low-voltage grid (README: data contract).
Ingestion checks that it loads and has a slack bus, stores it in bronze as received and
records its checksum in the ingest manifest (entry ``networks/<transformer_id>.json``),
so that the gold days of that transformer are recomputed when a model arrives or
changes. A file that does not load is recorded as quarantined with the reason; the
transformer's technical loss then falls back to the engineering estimate.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from dataclasses import dataclass
from typing import Any

import fsspec

from ami.errors import InputError
from warehouse import Warehouse
from warehouse.catalog import put_text
from warehouse.state import Manifest, ManifestEntry

FOLDER = "networks"


@dataclass(frozen=True)
class NetworkOutcome:
    """What happened to one network file."""

    name: str
    status: str  # loaded | unchanged | quarantined
    reason: str | None = None


def load_network(text: str, name: str) -> Any:
    """A pandapower network from its JSON; InputError naming the file when it is not one."""
    import pandapower as pp

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            net = pp.from_json_string(text)
    except Exception as exc:  # pandapower raises many kinds on a malformed file
        raise InputError(f"{name} is not a pandapower network ({type(exc).__name__}: {exc})",
                         file=name, row=1, column="(file)",
                         fix="export the network with pandapower.to_json, or remove the file"
                         ) from exc
    if len(net.ext_grid) == 0:
        raise InputError(f"{name} has no ext_grid: the transformer's low-voltage bus must be "
                         "the slack", file=name, row=1, column="ext_grid",
                         fix="add an ext_grid at the bus of the transformer total meter")
    return net


def bus_of(net: Any, nodes: list[str]) -> dict[str, int]:
    """Bus index of each ``network_node`` value found: by bus name, else by bus index."""
    names = {str(n): int(i) for i, n in zip(net.bus.index, net.bus["name"], strict=True)
             if n is not None and not (isinstance(n, float) and math.isnan(n))}
    found = {}
    for node in nodes:
        if node in names:
            found[node] = names[node]
        elif node.isdigit() and int(node) in net.bus.index:
            found[node] = int(node)
    return found


def ingest_networks(landing: str, warehouse: Warehouse,
                    manifest: Manifest) -> list[NetworkOutcome]:
    """Store new or changed network models; updates ``manifest`` in place."""
    fs, root = fsspec.core.url_to_fs(str(landing), skip_instance_cache=True)
    folder = f"{root.rstrip('/')}/{FOLDER}"
    if not fs.isdir(folder):
        return []
    outcomes = []
    for path in sorted(p for p in fs.ls(folder, detail=False) if str(p).endswith(".json")):
        name = f"{FOLDER}/{str(path).rsplit('/', 1)[-1]}"
        data = fs.cat_file(path)
        sha = hashlib.sha256(data).hexdigest()
        known = manifest.get(name)
        if known is not None and known.sha256 == sha:
            outcomes.append(NetworkOutcome(name, "unchanged"))
            continue
        transformer_id = name.removeprefix(f"{FOLDER}/").removesuffix(".json")
        try:
            load_network(data.decode("utf-8"), name)
        except (InputError, UnicodeDecodeError) as exc:
            manifest[name] = ManifestEntry(kind="network", sha256=sha, status="quarantined",
                                           transformer_id=transformer_id, reason=str(exc))
            outcomes.append(NetworkOutcome(name, "quarantined", str(exc)))
            continue
        put_text(warehouse, warehouse.network_file(transformer_id), data.decode("utf-8"))
        manifest[name] = ManifestEntry(kind="network", sha256=sha,
                                       transformer_id=transformer_id)
        outcomes.append(NetworkOutcome(name, "loaded"))
    return outcomes


def current_networks(manifest: Manifest) -> dict[str, str]:
    """Transformer id → checksum of its current network model."""
    return {str(e.transformer_id): e.sha256 for e in manifest.values()
            if e.kind == "network" and e.loaded}

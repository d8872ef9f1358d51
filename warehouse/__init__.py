"""Warehouse: where every table lives and how it is written.

Owns the Parquet layout (bronze / silver / gold, Hive-style partitions) on a local folder
or S3-compatible storage, the table schemas, the atomic partition writer and the catalog
of partitions. Every other package asks this one for locations and writes through it;
nothing else composes warehouse paths.
"""

from warehouse.catalog import PartitionMeta, is_stale, partition_meta, source, source_key
from warehouse.layout import Warehouse
from warehouse.writer import write_partition, write_table

__all__ = ["PartitionMeta", "Warehouse", "is_stale", "partition_meta", "source", "source_key",
           "write_partition", "write_table"]

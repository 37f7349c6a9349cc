-- SPDX-License-Identifier: BSD-2-Clause
-- podflow: registers the collector's dt=/hr= directories as partitions of podflow_flows.
--
-- The collector only adds files; Hive learns of a new directory when it is
-- registered.  Run this after podflow_flows.sql, then on a schedule (hourly
-- suffices: a partition's directory appears with its first file).

-- Every dt=YYYY-MM-DD/hr=HH directory under LOCATION that is not yet a
-- partition (the directory names are Hive's own partition naming).
MSCK REPAIR TABLE podflow_flows;

-- Or one hour explicitly, e.g. from a scheduler that knows which hour closed
-- (cheaper than listing the whole tree; values are the directory names,
-- zero-padded strings):
ALTER TABLE podflow_flows ADD IF NOT EXISTS
  PARTITION (dt='2024-05-01', hr='13') LOCATION '${FLOWS_DIR}/dt=2024-05-01/hr=13';

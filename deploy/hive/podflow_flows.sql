-- SPDX-License-Identifier: BSD-2-Clause
-- podflow: the collector's flow files as a Hive table (docs/schema.md).
--
-- Columns are the record's JSON fields (docs/schema.md is the one list;
-- scripts/schema-check.sh keeps this file equal to it): one column per line,
-- `name` TYPE COMMENT '...'.  The JSON SerDe maps keys to columns by name.
-- The collector writes <data-dir>/flows/dt=YYYY-MM-DD/hr=HH/part-*.json.gz;
-- LOCATION is that flows/ directory.  ${FLOWS_DIR} is a placeholder: pass it
-- as a variable (beeline --hivevar FLOWS_DIR=hdfs://nn/podflow/flows -f ...)
-- or substitute it first (envsubst '${FLOWS_DIR}').  Gzip is read by the
-- text input format from the .gz suffix; no table property is needed.

CREATE EXTERNAL TABLE IF NOT EXISTS podflow_flows (
  `start_ms` BIGINT COMMENT 'start of the span this record covers, Unix ms',
  `end_ms` BIGINT COMMENT 'end of the span this record covers, Unix ms',
  `family` BIGINT COMMENT '4 or 6',
  `direction` STRING COMMENT 'out: this pod connected; in: this pod accepted',
  `local_ip` STRING COMMENT 'local address, text',
  `local_port` BIGINT COMMENT 'local port; 0 when aggregated away',
  `remote_ip` STRING COMMENT 'remote address, text',
  `remote_port` BIGINT COMMENT 'remote port; 0 when aggregated away',
  `flows` BIGINT COMMENT 'connections in this record',
  `closed` BIGINT COMMENT 'of them, closed in this record',
  `failed` BIGINT COMMENT 'of them, closed without being established',
  `error` STRING COMMENT 'socket error of the first failure, empty if none',
  `bytes_sent` BIGINT COMMENT 'payload bytes sent in the span',
  `bytes_received` BIGINT COMMENT 'payload bytes received in the span',
  `segs_sent` BIGINT COMMENT 'TCP segments sent in the span',
  `segs_received` BIGINT COMMENT 'TCP segments received in the span',
  `retransmits` BIGINT COMMENT 'segments retransmitted in the span',
  `resets` BIGINT COMMENT 'RSTs sent or received in the span',
  `srtt_us` BIGINT COMMENT 'smoothed RTT, us; max over folded connections; 0 = no sample',
  `min_rtt_us` BIGINT COMMENT 'minimum RTT, us; 0 = no sample',
  `pid` BIGINT COMMENT 'process that owns the socket',
  `comm` STRING COMMENT 'its thread name',
  `cgroup_id` BIGINT COMMENT 'cgroup v2 id of the container',
  `container_id` STRING COMMENT 'container runtime id, empty if unknown',
  `container` STRING COMMENT 'container name, empty if unknown',
  `local_app` STRING COMMENT 'exporting pod: app',
  `local_namespace` STRING COMMENT 'exporting pod: namespace',
  `local_pod` STRING COMMENT 'exporting pod: name',
  `local_node` STRING COMMENT 'exporting pod: node',
  `local_workload` STRING COMMENT 'exporting pod: workload',
  `remote_app` STRING COMMENT 'owner of the remote IP at the flow time: app',
  `remote_namespace` STRING COMMENT 'owner of the remote IP: namespace',
  `remote_pod` STRING COMMENT 'owner of the remote IP: pod',
  `remote_workload` STRING COMMENT 'owner of the remote IP: workload',
  `remote_source` STRING COMMENT 'heartbeat, kube, sonar or unattributed'
)
COMMENT 'podflow attributed TCP flow records (docs/records.md)'
PARTITIONED BY (`dt` STRING, `hr` STRING)
ROW FORMAT SERDE 'org.apache.hive.hcatalog.data.JsonSerDe'
STORED AS TEXTFILE
LOCATION '${FLOWS_DIR}';

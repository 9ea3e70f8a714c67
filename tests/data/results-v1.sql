-- results-v1.sql: a results database as schema version 1 wrote it (before names,
-- tags and run uids), with one complete run; test_results migrates it.
PRAGMA application_id = 1179407443;
CREATE TABLE runs (
  id INTEGER PRIMARY KEY,
  scenario TEXT NOT NULL, scenario_file TEXT, scenario_text TEXT NOT NULL,
  scenario_hash TEXT NOT NULL, seed INTEGER NOT NULL,
  model TEXT, fleet TEXT, accelerators INTEGER,
  fleetsim_version TEXT NOT NULL, started_at TEXT NOT NULL, wall_s REAL,
  status TEXT NOT NULL CHECK (status IN ('incomplete', 'complete')),
  error TEXT, requests_stored INTEGER NOT NULL DEFAULT 0, sample_period_s REAL,
  summary_text TEXT, result_json TEXT);
CREATE TABLE requests (
  run_id INTEGER NOT NULL REFERENCES runs(id), seq INTEGER NOT NULL,
  id INTEGER NOT NULL, arrival_s REAL NOT NULL,
  prefill_replica INTEGER, decode_replica INTEGER,
  queue_s REAL, ttft_s REAL, tpot_s REAL, e2e_s REAL,
  input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
  cached_tokens INTEGER NOT NULL, preemptions INTEGER NOT NULL,
  kv_transfer_s REAL, rejected INTEGER NOT NULL,
  PRIMARY KEY (run_id, seq)) WITHOUT ROWID;
CREATE TABLE summary (
  run_id INTEGER NOT NULL REFERENCES runs(id), metric TEXT NOT NULL, value REAL,
  PRIMARY KEY (run_id, metric)) WITHOUT ROWID;
CREATE TABLE samples (
  run_id INTEGER NOT NULL REFERENCES runs(id), t_s REAL NOT NULL,
  replica INTEGER NOT NULL, waiting INTEGER NOT NULL, running INTEGER NOT NULL,
  kv_usage REAL NOT NULL, input_tps REAL NOT NULL, output_tps REAL NOT NULL,
  utilisation REAL NOT NULL, power_w REAL NOT NULL,
  PRIMARY KEY (run_id, t_s, replica)) WITHOUT ROWID;
PRAGMA user_version = 1;
INSERT INTO runs (scenario, scenario_file, scenario_text, scenario_hash, seed, model,
  fleet, accelerators, fleetsim_version, started_at, wall_s, status, requests_stored,
  sample_period_s, summary_text, result_json)
VALUES ('old-run', 'old.yaml', 'name: old-run', '0123456789abcdef', 7, 'llama-3.1-8b',
  '1 x H100-SXM, tp 1', 1, '0.1.0', '2026-01-01T00:00:00Z', 0.25, 'complete', 10, 1.0,
  'text', '{"summary": {"completed": 10}}');
INSERT INTO summary VALUES (1, 'completed', 10);

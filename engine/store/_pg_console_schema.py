"""Schema version 5 of the PostgreSQL store: what the operator console needs.

Counters without a hot row. Several nodes write one database, so no transaction updates a
shared counter row: triggers on ``messages``, ``deliveries``, ``attempts`` and
``attempt_payloads`` only *insert* a row into ``console_deltas`` (one per state change).
:func:`engine.store._pg_summaries.fold` (one node at a time, under an advisory lock; run
by the console's reads and by every node heartbeat) moves them, in one statement, into

* ``console_counts`` (kind, name, state) -> n: ``c`` messages per channel and state,
  ``d`` deliveries per destination and state, ``r`` deliveries per route, ``p`` bytes of
  attempt payloads;
* ``console_activity``: per 10-second slot, ``ok`` / ``failed`` / ``latency_sum`` per
  channel (slot of the receipt time) and destination (slot of the attempt);
* ``console_last``: the newest failed and sent attempt per destination.

Readers add the deltas not folded yet, in the same statement (one snapshot), so figures are
exact whenever they are read. The migration backfills the counters from existing rows.

Indexes answering the overview with seeks: waiting and failed messages per channel
(partial), waiting deliveries per destination (partial), messages by state, deliveries by
route, attempt payloads by age. Plus ``patient_keys``, accounts, tokens, sessions, the
append-only ``audit`` (triggers refuse UPDATE, DELETE and TRUNCATE), controls, alert
states, leases and node heartbeats.
"""

from __future__ import annotations

_MESSAGE_DELTA = """CREATE FUNCTION console_message_delta() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO console_deltas (kind, name, to_state, at)
        VALUES ('c', NEW.channel, NEW.state, NEW.received_at);
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO console_deltas (kind, name, from_state, to_state, at, latency)
        VALUES ('c', NEW.channel, OLD.state, NEW.state, NEW.received_at,
                CASE WHEN OLD.state = 'processing' AND NEW.replay_scope IS NULL
                      AND NEW.state IN ('routed', 'filtered', 'unmatched')
                     THEN greatest(extract(epoch FROM NEW.updated_at - NEW.received_at), 0)
                END);
    ELSE
        INSERT INTO console_deltas (kind, name, from_state, at)
        VALUES ('c', OLD.channel, OLD.state, OLD.received_at);
    END IF;
    RETURN NULL;
END $$"""

_DELIVERY_DELTA = """CREATE FUNCTION console_delivery_delta() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO console_deltas (kind, name, from_state, to_state)
        VALUES ('d', NEW.destination, NULL, NEW.state), ('r', NEW.route, NULL, '');
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO console_deltas (kind, name, from_state, to_state)
        VALUES ('d', OLD.destination, OLD.state, NULL), ('r', OLD.route, '', NULL);
    ELSE
        IF OLD.destination IS DISTINCT FROM NEW.destination THEN
            INSERT INTO console_deltas (kind, name, from_state, to_state)
            VALUES ('d', OLD.destination, OLD.state, NULL), ('d', NEW.destination, NULL, NEW.state);
        ELSIF OLD.state IS DISTINCT FROM NEW.state THEN
            INSERT INTO console_deltas (kind, name, from_state, to_state)
            VALUES ('d', NEW.destination, OLD.state, NEW.state);
        END IF;
        IF OLD.route IS DISTINCT FROM NEW.route THEN
            INSERT INTO console_deltas (kind, name, from_state, to_state)
            VALUES ('r', OLD.route, '', NULL), ('r', NEW.route, NULL, '');
        END IF;
    END IF;
    RETURN NULL;
END $$"""

# A note (operator release, superseded by replay) repeats the number of the attempt before
# it: it is not a failure. A failed circuit-breaker probe (retrying) is.
_ATTEMPT_DELTA = """CREATE FUNCTION console_attempt_delta() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    dest text;
    received timestamptz;
BEGIN
    SELECT d.destination, m.received_at INTO dest, received
    FROM deliveries d JOIN messages m ON m.id = d.message_id WHERE d.id = NEW.delivery_id;
    IF NEW.outcome = 'sent' THEN
        INSERT INTO console_deltas (kind, name, to_state, at, latency)
        VALUES ('a', dest, 'sent', NEW.at, greatest(extract(epoch FROM NEW.at - received), 0));
    ELSIF NEW.outcome = 'retrying' OR (NEW.outcome = 'dead' AND NOT EXISTS (
            SELECT 1 FROM attempts b WHERE b.delivery_id = NEW.delivery_id
            AND b.number = NEW.number AND b.seq < NEW.seq)) THEN
        INSERT INTO console_deltas (kind, name, to_state, at, detail)
        VALUES ('a', dest, 'failed', NEW.at, NEW.detail);
    END IF;
    RETURN NULL;
END $$"""

_PAYLOAD_DELTA = """CREATE FUNCTION console_payload_delta() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO console_deltas (kind, name, to_state, n) VALUES ('p', '', '',
        CASE TG_OP WHEN 'INSERT' THEN NEW.size WHEN 'DELETE' THEN -OLD.size
                   ELSE NEW.size - OLD.size END);
    RETURN NULL;
END $$"""

_APPEND_ONLY = """CREATE FUNCTION audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit entries are append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$"""

_BYTES = "coalesce(octet_length(sent), 0) + coalesce(octet_length(response), 0)"

MIGRATION_V5: tuple[str, ...] = (
    # --- counters ------------------------------------------------------------------
    """CREATE TABLE console_deltas (
    id          bigserial PRIMARY KEY,
    kind        "char" NOT NULL,
    name        text NOT NULL,
    from_state  text,
    to_state    text,
    at          timestamptz,
    n           bigint NOT NULL DEFAULT 1,
    latency     double precision,
    detail      text
)""",
    """CREATE TABLE console_counts (
    kind   "char" NOT NULL,
    name   text NOT NULL,
    state  text NOT NULL,
    n      bigint NOT NULL,
    PRIMARY KEY (kind, name, state)
)""",
    """CREATE TABLE console_activity (
    start        timestamptz NOT NULL,
    kind         text NOT NULL,
    name         text NOT NULL,
    ok           bigint NOT NULL DEFAULT 0,
    failed       bigint NOT NULL DEFAULT 0,
    latency_sum  double precision NOT NULL DEFAULT 0,
    PRIMARY KEY (start, kind, name)
)""",
    """CREATE TABLE console_last (
    name           text PRIMARY KEY,
    last_error     text NOT NULL DEFAULT '',
    last_error_at  timestamptz,
    last_sent_at   timestamptz
)""",
    "ALTER TABLE attempt_payloads ADD COLUMN at timestamptz NOT NULL DEFAULT now()",
    f"ALTER TABLE attempt_payloads ADD COLUMN size bigint GENERATED ALWAYS AS ({_BYTES}) STORED",
    "UPDATE attempt_payloads p SET at = a.at FROM attempts a"
    " WHERE a.delivery_id = p.delivery_id AND a.number = p.number",
    "CREATE INDEX attempt_payloads_at ON attempt_payloads(at)",
    # backfill, before the triggers exist
    "INSERT INTO console_counts SELECT 'c', channel, state, count(*) FROM messages GROUP BY 2, 3",
    "INSERT INTO console_counts SELECT 'd', destination, state, count(*) FROM deliveries"
    " GROUP BY 2, 3",
    "INSERT INTO console_counts SELECT 'r', route, '', count(*) FROM deliveries GROUP BY 2",
    "INSERT INTO console_counts SELECT 'p', '', '', coalesce(sum(size), 0) FROM attempt_payloads",
    "INSERT INTO console_activity (start, kind, name, ok, failed)"
    " SELECT date_bin('10 seconds', received_at, 'epoch'), 'channel', channel, count(*),"
    " count(*) FILTER (WHERE state IN ('error', 'rejected')) FROM messages"
    " WHERE received_at > now() - interval '31 days' GROUP BY 1, 3",
    "INSERT INTO console_activity (start, kind, name, ok, failed, latency_sum)"
    " SELECT date_bin('10 seconds', a.at, 'epoch'), 'destination', d.destination,"
    " count(*) FILTER (WHERE a.outcome = 'sent'),"
    " count(*) FILTER (WHERE a.outcome IN ('retrying', 'dead')),"
    " coalesce(sum(greatest(extract(epoch FROM a.at - m.received_at), 0))"
    " FILTER (WHERE a.outcome = 'sent'), 0)"
    " FROM attempts a JOIN deliveries d ON d.id = a.delivery_id"
    " JOIN messages m ON m.id = d.message_id"
    " WHERE a.at > now() - interval '31 days' GROUP BY 1, 3",
    "INSERT INTO console_last (name, last_error, last_error_at, last_sent_at)"
    " SELECT d.destination,"
    " coalesce((array_agg(a.detail ORDER BY a.seq DESC)"
    " FILTER (WHERE a.outcome IN ('retrying', 'dead')))[1], ''),"
    " max(a.at) FILTER (WHERE a.outcome IN ('retrying', 'dead')),"
    " max(a.at) FILTER (WHERE a.outcome = 'sent')"
    " FROM attempts a JOIN deliveries d ON d.id = a.delivery_id GROUP BY 1",
    _MESSAGE_DELTA,
    "CREATE TRIGGER messages_console_insert AFTER INSERT OR DELETE ON messages"
    " FOR EACH ROW EXECUTE FUNCTION console_message_delta()",
    "CREATE TRIGGER messages_console_update AFTER UPDATE OF state ON messages"
    " FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state)"
    " EXECUTE FUNCTION console_message_delta()",
    _DELIVERY_DELTA,
    "CREATE TRIGGER deliveries_console_insert AFTER INSERT OR DELETE ON deliveries"
    " FOR EACH ROW EXECUTE FUNCTION console_delivery_delta()",
    "CREATE TRIGGER deliveries_console_update AFTER UPDATE OF state, route, destination"
    " ON deliveries FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state"
    " OR OLD.route IS DISTINCT FROM NEW.route"
    " OR OLD.destination IS DISTINCT FROM NEW.destination)"
    " EXECUTE FUNCTION console_delivery_delta()",
    _ATTEMPT_DELTA,
    "CREATE TRIGGER attempts_console AFTER INSERT ON attempts"
    " FOR EACH ROW EXECUTE FUNCTION console_attempt_delta()",
    _PAYLOAD_DELTA,
    "CREATE TRIGGER attempt_payloads_console AFTER INSERT OR UPDATE OR DELETE"
    " ON attempt_payloads FOR EACH ROW EXECUTE FUNCTION console_payload_delta()",
    # --- indexes -------------------------------------------------------------------
    "CREATE INDEX messages_waiting ON messages(channel, id)"
    " WHERE state IN ('received', 'processing')",
    "CREATE INDEX messages_failed ON messages(channel, id) WHERE state IN ('error', 'rejected')",
    "CREATE INDEX messages_state ON messages(state, id)",
    "CREATE INDEX deliveries_waiting ON deliveries(destination, created_at)"
    " WHERE state IN ('pending', 'retrying')",
    "CREATE INDEX deliveries_route ON deliveries(route, message_id)",
    # --- patient index -------------------------------------------------------------
    """CREATE TABLE patient_keys (
    key         bytea NOT NULL,
    message_id  text COLLATE "C" NOT NULL,
    PRIMARY KEY (key, message_id)
)""",
    # --- console -------------------------------------------------------------------
    """CREATE TABLE accounts (
    name            text PRIMARY KEY,
    role            text NOT NULL,
    password_hash   text NOT NULL DEFAULT '',
    establishments  text[] NOT NULL DEFAULT '{}',
    disabled        boolean NOT NULL DEFAULT false,
    source          text NOT NULL DEFAULT 'local',
    created_at      timestamptz,
    updated_at      timestamptz
)""",
    """CREATE TABLE api_tokens (
    id            text PRIMARY KEY,
    account       text NOT NULL,
    token_hash    text NOT NULL UNIQUE,
    label         text NOT NULL DEFAULT '',
    role          text NOT NULL,
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz,
    last_used_at  timestamptz,
    revoked       boolean NOT NULL DEFAULT false
)""",
    "CREATE INDEX api_tokens_account ON api_tokens(account, created_at)",
    """CREATE TABLE sessions (
    id_hash     text PRIMARY KEY,
    account     text NOT NULL,
    csrf_token  text NOT NULL,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    source      text NOT NULL DEFAULT 'local'
)""",
    "CREATE INDEX sessions_account ON sessions(account)",
    "CREATE INDEX sessions_expiry ON sessions(expires_at)",
    """CREATE TABLE audit (
    id       bigserial PRIMARY KEY,
    at       timestamptz NOT NULL,
    actor    text NOT NULL,
    action   text NOT NULL,
    object   text NOT NULL,
    outcome  text NOT NULL,
    detail   text NOT NULL DEFAULT '',
    client   text NOT NULL DEFAULT ''
)""",
    "CREATE INDEX audit_actor ON audit(actor, id)",
    "CREATE INDEX audit_action ON audit(action, id)",
    "CREATE INDEX audit_at ON audit(at)",
    _APPEND_ONLY,
    "CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit"
    " FOR EACH ROW EXECUTE FUNCTION audit_append_only()",
    "CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit"
    " FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()",
    """CREATE TABLE controls (
    kind    text NOT NULL,
    name    text NOT NULL,
    paused  boolean NOT NULL,
    by      text NOT NULL,
    at      timestamptz NOT NULL,
    reason  text NOT NULL DEFAULT '',
    PRIMARY KEY (kind, name)
)""",
    """CREATE TABLE alert_states (
    fingerprint  text PRIMARY KEY,
    firing       boolean NOT NULL,
    since        timestamptz,
    notified_at  timestamptz,
    resolved_at  timestamptz,
    detail       text NOT NULL DEFAULT ''
)""",
    "CREATE TABLE leases (name text PRIMARY KEY, owner text NOT NULL, until timestamptz NOT NULL)",
    """CREATE TABLE node_statuses (
    node          text PRIMARY KEY,
    pid           integer NOT NULL,
    started_at    timestamptz NOT NULL,
    heartbeat_at  timestamptz NOT NULL,
    channels      jsonb NOT NULL DEFAULT '{}'
)""",
)

__all__ = ["MIGRATION_V5"]

-- The W3C traceparent of the span that wrote the row, so the relay's publish span continues the
-- incident's trace (docs/operability.md). Kept beside the envelope, not in it: the envelope is
-- the public shape of the log. NULL when tracing is off.
ALTER TABLE outbox ADD COLUMN trace_context text;

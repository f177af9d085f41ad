-- The consumers' second wall for tenancy: the trust each stream (an incident, a theme, a
-- submission) was first seen under. An event whose envelope names another trust for a stream
-- already bound is dead-lettered, never applied, so a mis-stamped or forged event cannot move a
-- trust's incident into another trust's rows. Written in the consumer's batch transaction.
CREATE TABLE stream_tenants (
    stream_id  uuid        PRIMARY KEY,
    trust      text        NOT NULL,
    bound_at   timestamptz NOT NULL DEFAULT now()
);

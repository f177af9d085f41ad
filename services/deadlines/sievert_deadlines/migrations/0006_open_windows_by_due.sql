-- The overdue windows a metrics scrape counts (open and past due), without reading the met and
-- cancelled ones: the scrape runs every few seconds on every replica.
CREATE INDEX windows_open_by_due ON windows (due_at) WHERE status = 'open';

-- Submissions the trust made outside Sievert (e.g. through the regulator's portal), recorded through
-- the deadlines service's submissions API and projected from its NotificationSubmitted /
-- InvestigationReportSubmitted. They hold no document and no contact role; reporting will not
-- draft or issue a second one for the same incident and kind.
ALTER TABLE submissions ADD COLUMN channel text NOT NULL DEFAULT 'sievert'
    CHECK (channel IN ('sievert', 'external'));
ALTER TABLE submissions ALTER COLUMN contact_role DROP NOT NULL;

-- What a person adds to a document beyond the incident's facts (the preliminary investigation,
-- the facts behind a code, the licensing breach's particulars), as the latest SubmissionDrafted
-- carries them. Drafts from before it have none.
ALTER TABLE submissions ADD COLUMN particulars jsonb NOT NULL DEFAULT '{}'::jsonb;

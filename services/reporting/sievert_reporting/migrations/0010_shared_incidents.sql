-- Several employers: another trust named in an incident's facts (``employers[].trust_code``) reads
-- its own part of it (``/v1/trusts/{trust}/shared-incidents``). The containment query
-- ``facts->'employers' @> '[{"trust_code": ...}]'`` is served by this index.
CREATE INDEX incidents_by_employer ON incidents USING gin ((facts -> 'employers') jsonb_path_ops);

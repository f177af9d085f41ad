-- The local investigation's close-out coded in the published taxonomies (domain/taxonomy.py):
-- CQC's three error tiers for every incident, and the national radiotherapy error and near miss
-- (RTE) coding for a radiotherapy one. Projected from LocalInvestigationClosed v2, so a replay
-- rebuilds them; a close-out from before (v1) coded neither. The incident read model shows them
-- under the same names (adapters/read_model.py), and the RTE export reads them.
ALTER TABLE local_investigations
    ADD COLUMN error_taxonomy_version        text,
    ADD COLUMN error_tier1_duty_holder       text,
    ADD COLUMN error_tier2_pathway_point     text,
    ADD COLUMN error_tier3_what_went_wrong   text,
    ADD COLUMN rte_taxonomy_version          text,
    ADD COLUMN rte_level                     smallint CHECK (rte_level BETWEEN 1 AND 5),
    ADD COLUMN rte_level_basis               text,
    ADD COLUMN rte_process_subcodes          text[] NOT NULL DEFAULT '{}',
    ADD COLUMN rte_failed_safety_barriers    text[] NOT NULL DEFAULT '{}',
    ADD COLUMN rte_effective_safety_barriers text[] NOT NULL DEFAULT '{}',
    ADD COLUMN rte_causative_factors         text[] NOT NULL DEFAULT '{}',
    ADD COLUMN rte_detection_methods         text[] NOT NULL DEFAULT '{}';
-- The RTE export: a trust's coded radiotherapy incidents.
CREATE INDEX local_investigations_rte ON local_investigations (trust) WHERE rte_level IS NOT NULL;

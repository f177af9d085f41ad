-- The day each theme was identified (guidance line 278: when a thematic review's code M is what
-- makes an incident notifiable, its windows run from that day), as reporting's
-- ThemeIndividualsCounted v2 carries it; NULL when unknown (a v1 count). And the day the latest
-- decision carried, so a change of that day alone is announced as a reclassification.
ALTER TABLE incident_themes ADD COLUMN identified_on date;
ALTER TABLE classifications ADD COLUMN theme_identified_on date;

-- The continuity-of-care family computed once: continuity_breakdowns()
-- (sql/macros/continuity.sql) as a table, with its small-cell suppression decided on the three
-- breakdowns together. marts.continuity_of_care_overall, _by_program and _by_discharge_month each
-- select their breakdown from it (and add the labels), instead of each computing the whole family
-- again. Not published.
-- Grain: one row per measure x breakdown ('all', 'program', 'discharge_month') x program or
-- discharge month (neither for 'all').
{{ continuity_breakdowns() }}

-- The length-of-stay family computed once: length_of_stay_breakdowns()
-- (sql/macros/length_of_stay.sql) as a table, with its small-cell suppression decided on the
-- five breakdowns together. marts.length_of_stay_by_level, _by_program, _by_discharge_month,
-- _by_discharge_reason and _by_payer each select their breakdown from it (and add the labels),
-- instead of each computing the whole family again. Not published.
-- Grain: one row per breakdown x level of care x breakdown value (the program, discharge month,
-- discharge reason or payer of the row; breakdown 'level_of_care' is the level's own row), for
-- levels of care with a discharged episode.
{{ length_of_stay_breakdowns() }}

-- The monthly KPI family computed once: program_quality_cells() (sql/macros/program_quality.sql)
-- as a table, with its small-cell suppression decided on the programs and their 'All' rows
-- together. marts.program_quality_monthly_overall (program 'All') and _by_program (every other
-- program) each select their rows from it, instead of each computing the whole family again. Not
-- published.
-- Grain: one row per calendar month x program (program 'All' included) x level of care, from the
-- month of a program's first activity at the level to the latest month with activity.
{{ program_quality_cells() }}

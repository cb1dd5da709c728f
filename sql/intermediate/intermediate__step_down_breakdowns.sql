-- The step-down family computed once: step_down_breakdowns() (sql/macros/step_down.sql) as a
-- table, with its small-cell suppression decided on the three breakdowns together, on the counts
-- of intermediate.step_down_cells.
-- marts.step_down_transitions_overall, _by_program and _by_discharge_month each select their
-- breakdown from it (and add the labels), instead of each computing the whole family again. Not
-- published.
-- Grain: one row per breakdown ('all', 'program', 'discharge_month') x from-level x program or
-- discharge month (neither for 'all') x to-level.
-- depends_on: {{ ref('marts__episodes') }}
{{ step_down_breakdowns() }}

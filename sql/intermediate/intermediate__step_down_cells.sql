-- The step-down family's counts before suppression: step_down_cells() (sql/macros/step_down.sql),
-- every cell of the three breakdowns with its group totals ('*' to-level rows), as a table of its
-- own so that intermediate.step_down_breakdowns suppresses a table whose size the planner knows
-- (the grouping sets estimate millions of rows for a few thousand cells). In the working
-- warehouse only: not published.
-- Grain: one row per breakdown ('all', 'program', 'discharge_month') x from-level x program or
-- discharge month (neither for 'all') x to-level, or '*' for the group's total.
{{ step_down_cells() }}

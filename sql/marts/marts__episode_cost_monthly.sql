-- Cost of closed episodes per level of care and month of the episode's start
-- (sql/macros/cost.sql, episode_cost_summary). Privacy: the small-cell rule of
-- sql/macros/suppression.sql; its line: the months of a level add up to the level's row of
-- marts.episode_cost_by_level.
-- Grain: one row per level of care x start month.
{{ episode_cost_summary(['start_month']) }}

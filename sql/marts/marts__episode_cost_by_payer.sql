-- Cost of closed episodes per level of care and payer (sql/macros/cost.sql,
-- episode_cost_summary). Privacy: the small-cell rule of sql/macros/suppression.sql; its line:
-- the payers of a level add up to the level's row of marts.episode_cost_by_level.
-- Grain: one row per level of care x payer.
{{ episode_cost_summary(['payer']) }}

-- Cost of closed episodes per level of care (sql/macros/cost.sql, episode_cost_summary).
-- Privacy: the small-cell rule of sql/macros/suppression.sql; each level's row is its own line.
-- Grain: one row per level of care.
{{ episode_cost_summary([]) }}

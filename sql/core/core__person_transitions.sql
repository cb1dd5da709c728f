-- What follows each episode (core.transitions without the columns that depend on the as-of
-- date: from_is_open and window_complete, which core.transitions adds in a view over this table):
-- the next episode of the same person — the first after it in the person's order (start, end,
-- higher level of care first) that does not end before it — and whether it starts within
-- `transition_window_days` (default 30) of this one's end.
-- Refreshed by change scope (sql/macros/incremental.sql): the rows of core.changed_persons are
-- deleted and computed again.
-- Grain: one row per episode.
{%- do scoped_incremental_config(changed_person_rows()) %}
{{ transitions_of_persons(ref('core__person_episodes')) }}

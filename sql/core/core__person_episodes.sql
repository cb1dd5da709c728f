-- Episodes of care per person and level, before the as-of date: what core.episodes is without
-- is_open and as_of_date (which depend on the latest session date of the whole data set, so
-- core.episodes computes them in a view over this table). An episode at a level ends when the gap
-- to the next span of care at that level exceeds the episode gap (var episode_gap_days: a gap of
-- exactly that many days continues it); census_open is whether its latest census admission is open
-- (null when no census row makes it).
-- Refreshed by change scope (sql/macros/incremental.sql): the rows of core.changed_persons are
-- deleted and computed again.
-- Grain: one row per person x level of care x episode.
{%- do scoped_incremental_config(changed_person_rows()) %}
{{ episodes_of_persons(ref('core__care_spans'), rows_of_changed_persons('core__sessions')) }}

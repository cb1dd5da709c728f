-- What follows each episode: the next episode of the same person — the first after it in the
-- person's order (start, end, higher level of care first) that does not end before it (an
-- episode nested inside this one is not "next") — and whether it starts within
-- `transition_window_days` (default 30) of this one's end.
-- days_between = next start - this end (0 = same day; negative when levels overlap).
-- direction: step_down / step_up / lateral by level-of-care rank, or none within the window.
-- A view over core.person_transitions (refreshed by change scope) adding what depends on the as-of
-- date: whether the episode is open and whether its transition window has passed.
-- Grain: one row per episode.
{{ config(materialized='view') }}
select
    t.episode_id
    , t.person_id
    , t.program
    , t.from_level
    , t.from_rank
    , t.from_start_date
    , t.from_end_date
    , e.is_open as from_is_open
    , t.from_discharge_reason
    , t.next_episode_id
    , t.next_level
    , t.next_start_date
    , t.days_to_next
    , t.within_window
    , t.to_level
    , t.days_between
    , t.direction
    , {{ days_between('t.from_end_date', 'e.as_of_date') }} >= {{ var('transition_window_days') }}
        as window_complete
{%- if in_unit_test() %}
{#- a unit test gives episodes: the transitions are computed from them #}
from ({{ transitions_of_persons(ref('core__episodes')) }}) as t
{%- else %}
from {{ ref('core__person_transitions') }} as t
{%- endif %}
join {{ ref('core__episodes') }} as e using (episode_id)

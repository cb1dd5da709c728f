-- Episodes of care: a maximal run of care spans of one person at one level of care in which the
-- gap from the latest end so far to the next span's start is at most `episode_gap_days`
-- (default 30; a gap of exactly 30 days continues the episode, 31 starts a new one).
-- length_of_stay = last day - first day + 1. Census admissions, where present, are spans too, so
-- their admit and discharge dates bound the episode. An episode is open when its latest census
-- admission has no discharge, or, without a census, when its last day is within
-- `episode_gap_days` of the as-of date (the latest session date in the data): a session may
-- still follow.
-- A view over core.person_episodes (refreshed by change scope) adding what depends on the whole
-- data set: the as-of date, and whether an episode without a census is still open.
-- Grain: one row per episode.
{{ config(materialized='view') }}
with as_of as (
    -- the latest session date; without attendance (a claims-only deployment) the latest day of
    -- any care span. No accepted date is over IOP_FUTURE_TOLERANCE_DAYS after its file landed
    -- (staging's implausible_date rule): one mistyped row cannot move it.
    select coalesce(
        (select max(session_date) from {{ ref('core__sessions') }})
        , (select max(span_end) from {{ ref('core__care_spans') }})
    ) as as_of_date
)

select
    e.episode_id
    , e.person_id
    , e.level_of_care
    , e.episode_number
    , e.program
    , e.start_date
    , e.end_date
    , e.length_of_stay
    , coalesce(
        e.census_open
        , {{ days_between('e.end_date', 'a.as_of_date') }} < {{ var('episode_gap_days') }}
    ) as is_open
    , e.discharge_reason
    , e.source
    , e.sessions_scheduled
    , e.sessions_attended
    , e.days_attended
    , e.minutes_attended
    , a.as_of_date
{%- if in_unit_test() %}
{#- a unit test gives care spans and sessions: the episodes are computed from them #}
from ({{ episodes_of_persons(ref('core__care_spans'), ref('core__sessions')) }}) as e
{%- else %}
from {{ ref('core__person_episodes') }} as e
{%- endif %}
cross join as_of as a

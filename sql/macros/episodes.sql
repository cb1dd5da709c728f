-- Episodes per person and level from care spans and sessions, without what depends on the as-of
-- date (core.person_episodes; core.episodes in a dbt unit test). The rule: core.episodes.
{% macro episodes_of_persons(care_spans, sessions) -%}
with starts as (
    -- one row per distinct start day, so the running window below has a total order
    select person_id, level_of_care, span_start, max(span_end) as span_end
    from {{ care_spans }}
    where {{ in_changed_persons() }}
    group by all
)

, flagged as (
    select
        *
        , max(span_end) over (
            partition by person_id, level_of_care order by span_start
            rows between unbounded preceding and 1 preceding
        ) as prior_end
        , case
            when prior_end is null then 1
            when {{ days_between('prior_end', 'span_start') }} > {{ var('episode_gap_days') }} then 1
            else 0
        end as starts_episode
    from starts
)

, numbered as (
    select
        person_id
        , level_of_care
        , span_start
        , sum(starts_episode) over (
            partition by person_id, level_of_care order by span_start
            rows between unbounded preceding and current row
        ) as episode_number
    from flagged
)

, spans as (
    select s.*, n.episode_number
    from {{ care_spans }} as s
    join numbered as n using (person_id, level_of_care, span_start)
    where {{ in_changed_persons('s.person_id') }}
)

, episodes as (
    select
        person_id
        , level_of_care
        , episode_number
        , min(span_start) as start_date
        , max(span_end) as end_date
        , {{ mode_lowest("program") }} filter (where program is not null) as program
        , bool_or(source = 'attendance') as has_attendance
        , bool_or(source = 'claims') as has_claims
        , bool_or(source = 'census') as has_census
        , {{ arg_max('census_open', 'span_start') }} filter (where source = 'census')
            as latest_census_open
        , {{ arg_max('discharge_reason', 'span_end') }} filter (where source = 'census')
            as census_reason
    from spans
    group by all
)

, attendance as (
    select
        e.person_id
        , e.level_of_care
        , e.episode_number
        , count(*) as sessions_scheduled
        , count(*) filter (where s.attended) as sessions_attended
        , count(distinct s.session_date) filter (where s.attended) as days_attended
        , coalesce(sum(s.minutes) filter (where s.attended), 0) as minutes_attended
    from episodes as e
    join (select * from {{ sessions }} where {{ in_changed_persons() }}) as s
        on s.person_id = e.person_id
        and s.level_of_care = e.level_of_care
        and s.session_date between e.start_date and e.end_date
    group by all
)

select
    {{ sha256_hex("e.person_id || '|' || e.level_of_care || '|' || e.start_date") }} as episode_id
    , e.person_id
    , e.level_of_care
    , e.episode_number
    , coalesce(e.program, 'external') as program
    , e.start_date
    , e.end_date
    , {{ days_between('e.start_date', 'e.end_date') }} + 1 as length_of_stay
    , case when e.has_census then e.latest_census_open end as census_open
    , case when not coalesce(e.latest_census_open, false) then e.census_reason end as discharge_reason
    , case
        when e.has_attendance or e.has_census then
            case when e.has_claims then 'ehr_and_claims' else 'ehr' end
        else 'claims'
    end as source
    , coalesce(t.sessions_scheduled, 0) as sessions_scheduled
    , coalesce(t.sessions_attended, 0) as sessions_attended
    , coalesce(t.days_attended, 0) as days_attended
    , coalesce(t.minutes_attended, 0) as minutes_attended
from episodes as e
left join attendance as t using (person_id, level_of_care, episode_number)
{%- endmacro %}

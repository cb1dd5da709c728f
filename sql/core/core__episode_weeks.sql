-- Treatment intensity: attended hours of each week of an EHR episode. Weeks are counted from the
-- episode's first day (week 1 = start_date .. start_date + 6), so every week but the last is a
-- full 7 days; a week with no attended session inside the episode is a row with 0 hours. The
-- ASAM minimum (sql/seeds/intensity_thresholds.csv, by level of care and age band at episode
-- start: IOP 9 hours adults / 6 adolescents, PHP 20) is judged on full weeks only: meets_minimum
-- is null for the last, partial week of an episode, for an age band without a threshold and for
-- levels without one. Claims-only episodes have no attended hours and no rows.
-- Grain: one row per episode x week of the episode.
-- Refreshed by change scope (sql/macros/incremental.sql): the rows of core.changed_persons are
-- deleted and computed again.
{%- do scoped_incremental_config(changed_person_rows()) %}
with episodes as (
    select
        e.episode_id
        , e.person_id
        , e.level_of_care
        , e.program
        , e.start_date
        , e.end_date
        , age.age_band
    from (select * from {{ ref('core__episodes') }} where {{ in_changed_persons() }}) as e
    join {{ ref('core__persons') }} as p using (person_id)
    left join {{ value_set('age_bands') }} as age
        on {{ age_years('e.start_date', 'p.birth_date') }}
            between age.age_from::integer and age.age_to::integer
    where e.source <> 'claims'
)

, weeks as (
    select
        *
        , {{ unnest_range('0', int_div(days_between('start_date', 'end_date'), '7') ~ ' + 1'
            , 'week_index') }}
    from episodes
)

, attended as (
    select
        e.episode_id
        , {{ int_div(days_between('e.start_date', 's.session_date'), '7') }}::integer as week_index
        , count(*) as sessions_attended
        , sum(s.minutes)::bigint as minutes_attended
    from episodes as e
    join {{ rows_of_changed_persons('core__sessions') }} as s
        on s.person_id = e.person_id
        and s.level_of_care = e.level_of_care
        and s.session_date between e.start_date and e.end_date
    where s.attended
    group by all
)

, thresholds as (
    select level_of_care, age_band, min(min_hours_per_week::decimal(6, 2)) as min_hours_per_week
    from {{ value_set('intensity_thresholds') }}
    group by all
)

select
    w.episode_id
    , w.person_id
    , w.level_of_care
    , w.program
    , w.week_index + 1 as week_number
    , (w.start_date + 7 * w.week_index)::date as week_start
    , least(w.start_date + 7 * w.week_index + 6, w.end_date)::date as week_end
    , {{ days_between('week_start', 'week_end') }} + 1 as week_days
    , week_days = 7 as full_week
    , coalesce(a.sessions_attended, 0) as sessions_attended
    , coalesce(a.minutes_attended, 0) as minutes_attended
    , round(coalesce(a.minutes_attended, 0) / 60, 2) as attended_hours
    , w.age_band
    , t.min_hours_per_week
    , case
        when full_week and t.min_hours_per_week is not null
            then coalesce(a.minutes_attended, 0) >= t.min_hours_per_week * 60
    end as meets_minimum
from weeks as w
left join attended as a using (episode_id, week_index)
left join thresholds as t
    on t.level_of_care = w.level_of_care and t.age_band = w.age_band

-- What the continuity-of-care marts need of each discharge that does not depend on the as-of date,
-- per episode at RES, WM, INPT (follow-up) or IOP (step-up), from the person's care spans and
-- episodes (sql/macros/continuity.sql computes the measures from it):
-- * follow_up_7d_met / follow_up_30d_met: a care span at a lower level of care covers a day in
--   days 1..7 (1..30) after the episode's end;
-- * the episodes that would make it count or not, by whether they are closed: a re-admission
--   (another RES/WM/INPT episode starting on days 0..30 after the end) makes a discharge not the
--   last of its string; a step-up (an episode at a higher level starting on days 0..30, 0..90)
--   meets the step-up measure. Only closed episodes count, and whether an episode without a census
--   is closed depends on the as-of date: each is kept as "one closed by its census" and "the
--   earliest end among those without a census" (closed when the as-of date is at least the episode
--   gap after it).
-- Grain: one row per episode at RES, WM, INPT or IOP.
-- Refreshed by change scope (sql/macros/incremental.sql): the rows of core.changed_persons are
-- deleted and computed again.
{%- do scoped_incremental_config(changed_person_rows()) %}
with episodes as (
    select
        e.episode_id
        , e.person_id
        , e.level_of_care
        , l.rank::integer as level_rank
        , e.start_date
        , e.end_date
        , e.census_open
    from {{ ref('core__person_episodes') }} as e
    join {{ value_set('level_of_care') }} as l using (level_of_care)
    where {{ in_changed_persons('e.person_id') }}
)

, spans as (
    select s.person_id, s.span_start, s.span_end, l.rank::integer as level_rank
    from {{ ref('core__care_spans') }} as s
    join {{ value_set('level_of_care') }} as l using (level_of_care)
    where {{ in_changed_persons('s.person_id') }}
)

, discharges as (
    select *
    from episodes
    where level_of_care in ('RES', 'WM', 'INPT', 'IOP')
)

-- the first day after a RES/WM/INPT discharge that a care span at a lower level covers
, follow_ups as (
    select
        d.episode_id
        , min({{ days_between('d.end_date', 'greatest(s.span_start, d.end_date + 1)') }})
            as first_day
    from discharges as d
    join spans as s
        on s.person_id = d.person_id
        and s.level_rank < d.level_rank
        and s.span_end >= d.end_date + 1
    where d.level_of_care <> 'IOP'
    group by d.episode_id
)

-- the later episodes a discharge's measures look at, with the window (days after its end) each
-- falls in
, later as (
    select
        d.episode_id
        , nxt.level_of_care in ('RES', 'WM', 'INPT') and d.level_of_care in ('RES', 'WM', 'INPT')
            and nxt.start_date <= d.end_date + 30 as readmission
        , d.level_of_care = 'IOP' and nxt.level_rank > d.level_rank
            and nxt.start_date <= d.end_date + 30 as step_up_30d
        , d.level_of_care = 'IOP' and nxt.level_rank > d.level_rank
            and nxt.start_date <= d.end_date + 90 as step_up_90d
        , nxt.census_open
        , nxt.end_date
    from discharges as d
    join episodes as nxt
        on nxt.person_id = d.person_id
        and nxt.episode_id <> d.episode_id
        and nxt.start_date between d.end_date and d.end_date + 90
)

, later_by_discharge as (
    select
        episode_id
        , bool_or(readmission and census_open is not distinct from false)
            as readmission_census_closed
        , min(end_date) filter (where readmission and census_open is null)
            as readmission_first_end
        , bool_or(step_up_30d and census_open is not distinct from false)
            as step_up_30d_census_closed
        , min(end_date) filter (where step_up_30d and census_open is null)
            as step_up_30d_first_end
        , bool_or(step_up_90d and census_open is not distinct from false)
            as step_up_90d_census_closed
        , min(end_date) filter (where step_up_90d and census_open is null)
            as step_up_90d_first_end
    from later
    group by episode_id
)

select
    d.episode_id
    , d.person_id
    , case when d.level_of_care <> 'IOP' then coalesce(f.first_day <= 7, false) end
        as follow_up_7d_met
    , case when d.level_of_care <> 'IOP' then coalesce(f.first_day <= 30, false) end
        as follow_up_30d_met
    , coalesce(l.readmission_census_closed, false) as readmission_census_closed
    , l.readmission_first_end
    , coalesce(l.step_up_30d_census_closed, false) as step_up_30d_census_closed
    , l.step_up_30d_first_end
    , coalesce(l.step_up_90d_census_closed, false) as step_up_90d_census_closed
    , l.step_up_90d_first_end
from discharges as d
left join follow_ups as f using (episode_id)
left join later_by_discharge as l using (episode_id)

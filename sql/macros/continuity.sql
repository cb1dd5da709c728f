-- continuity_breakdowns(): the three continuity-of-care marts (marts.continuity_of_care_overall,
-- _by_program, _by_discharge_month) computed together, as one relation with a `breakdown` column
-- ('all', 'program', 'discharge_month') naming each row's grouping, built once as the table
-- intermediate.continuity_breakdowns. Each mart selects its own breakdown from it: a measure's
-- program rows (month rows) add up to its overall row, so suppression is decided on the three at
-- once and every mart gets the same cells suppressed.
--
-- Continuity of care in the HEDIS follow-up pattern, as rates with 95% Wilson intervals:
--   follow_up_7d / follow_up_30d: of discharges from residential, withdrawal management or
--     inpatient care (RES, WM, INPT), the share with a service at a lower level of care on days
--     1..7 (1..30) after discharge. A service on the discharge day does not count. As in HEDIS
--     FUH, when the person is re-admitted to RES/WM/INPT within 30 days only the last discharge
--     of the string counts. Services are care spans: an attended session, a final claim line
--     or a census admission covering the day. What does not depend on the as-of date is found
--     per discharge in core.episode_continuity (refreshed by change scope).
--   step_up_30d / step_up_90d: of IOP discharges, the share followed by an episode at a higher
--     level (PHP, RES, WM, INPT) starting on days 0..30 (0..90) after discharge.
-- A discharge counts only once its whole window has been observed (end + window <= as-of date).
-- Privacy: the small-cell rule of sql/macros/suppression.sql, on the persons of each row's
-- numerator and of its denominator (either suppressed suppresses the row whole). Its lines here:
-- the programs (discharge months) of one measure add up to the measure's 'all' row, for the
-- numerator and for the denominator.
{% macro continuity_breakdowns() -%}
{%- set gap = var('episode_gap_days') %}
with episodes as (
    -- closed discharges, with what core.episode_continuity found after each
    select
        e.episode_id
        , e.person_id
        , p.person_key
        , e.level_of_care
        , e.program
        , e.end_date
        , e.as_of_date
        , date_trunc('month', e.end_date)::date as discharge_month
        , c.follow_up_7d_met
        , c.follow_up_30d_met
        -- a later episode counts once closed: by its census, or (without one) when the as-of
        -- date is at least the episode gap after its end
        , coalesce(c.readmission_census_closed, false)
            or coalesce(
                {{ days_between('c.readmission_first_end', 'e.as_of_date') }} >= {{ gap }}, false)
            as readmitted
        , coalesce(c.step_up_30d_census_closed, false)
            or coalesce(
                {{ days_between('c.step_up_30d_first_end', 'e.as_of_date') }} >= {{ gap }}, false)
            as step_up_30d_met
        , coalesce(c.step_up_90d_census_closed, false)
            or coalesce(
                {{ days_between('c.step_up_90d_first_end', 'e.as_of_date') }} >= {{ gap }}, false)
            as step_up_90d_met
    from {{ ref('core__episodes') }} as e
    join {{ ref('core__persons') }} as p using (person_id)
    left join {{ ref('core__episode_continuity') }} as c using (episode_id)
    where not e.is_open and e.level_of_care in ('RES', 'WM', 'INPT', 'IOP')
)

, acute_discharges as (
    -- only the last discharge of a string of re-admissions within 30 days counts
    select *
    from episodes
    where level_of_care in ('RES', 'WM', 'INPT') and not readmitted
)

, follow_up as (
    select
        'follow_up_' || w.days || 'd' as measure
        , d.person_key
        , d.program
        , d.discharge_month
        , coalesce(case w.days when 7 then d.follow_up_7d_met else d.follow_up_30d_met end, false)
            as met
    from acute_discharges as d
    cross join (values (7), (30)) as w (days)
    where {{ days_between('d.end_date', 'd.as_of_date') }} >= w.days
)

, step_up as (
    select
        'step_up_' || w.days || 'd' as measure
        , d.person_key
        , d.program
        , d.discharge_month
        , case w.days when 30 then d.step_up_30d_met else d.step_up_90d_met end as met
    from episodes as d
    cross join (values (30), (90)) as w (days)
    where d.level_of_care = 'IOP'
        and {{ days_between('d.end_date', 'd.as_of_date') }} >= w.days
)

, outcomes as (
    select * from follow_up
    union all
    select * from step_up
)

, cells as (
    select
        measure
        , case
            when grouping(program) = 0 then 'program'
            when grouping(discharge_month) = 0 then 'discharge_month'
            else 'all'
        end as breakdown
        , coalesce(program, 'All') as program
        , discharge_month
        , count(*) as denominator
        , count(*) filter (where met) as numerator
        , {{ count_distinct_persons('person_key') }} as denominator_persons
        , {{ count_distinct_persons('person_key') }} filter (where met) as numerator_persons
    from outcomes
    group by grouping sets ((measure), (measure, program), (measure, discharge_month))
)

, keyed as (
    select *, coalesce(discharge_month::string, program) as breakdown_value
    from cells
)

, suppression as (
    {{ suppress_rows(
        'keyed', ['measure', 'breakdown', 'breakdown_value']
        , ['denominator_persons', 'numerator_persons']
        , lines=[{'by': ['measure', 'breakdown'], 'where': "breakdown <> 'all'",
                  'total_by': ['measure'], 'total': "breakdown = 'all'"}]
    ) }}
)

select
    measure
    , breakdown
    , program
    , discharge_month
    , suppressed
    , case when not suppressed then denominator end as denominator
    , case when not suppressed then numerator end as numerator
    , case when not suppressed then round(numerator / denominator, 4) end as rate
    , case when not suppressed then round({{ wilson_low('numerator', 'denominator') }}, 4) end
        as rate_ci_low
    , case when not suppressed then round({{ wilson_high('numerator', 'denominator') }}, 4) end
        as rate_ci_high
from suppression
{%- endmacro %}

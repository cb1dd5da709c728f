-- Length of stay of completed (discharged) episodes: n, median, p25, p75, p90 and mean days,
-- sessions attended, attendance rate and completion / dropout / transfer rates, by level of care
-- and by program, discharge month, discharge reason and payer. Open episodes are counted in
-- `open_episodes` and kept out of every stay statistic. Rates use episodes with a recorded
-- discharge reason as denominator. Privacy: cells of 1-10 persons are suppressed (statistics
-- null), and a breakdown of a level with exactly one suppressed cell gets its smallest other cell
-- suppressed too, so the suppressed one cannot be recomputed from the level's total; open-episode
-- counts of 1-10 are suppressed as well.
-- Grain: one row per level of care x breakdown value (`breakdown` names the grouping; 'All' and
-- a null month stand for "every").
with closed as (
    select
        level_of_care
        , program
        , discharge_month
        , coalesce(discharge_reason, 'not_recorded') as discharge_reason
        , payer
        , person_key
        , length_of_stay
        , sessions_attended
        , sessions_scheduled
        , discharge_reason is not null as reason_known
    from marts.episodes
    where not is_open
)

, open_counts as (
    select level_of_care, count(*) as open_episodes
    from marts.episodes
    where is_open
    group by level_of_care
)

, aggregated as (
    select
        case
            when grouping(program) = 0 then 'program'
            when grouping(discharge_month) = 0 then 'discharge_month'
            when grouping(discharge_reason) = 0 then 'discharge_reason'
            when grouping(payer) = 0 then 'payer'
            else 'level_of_care'
        end as breakdown
        , level_of_care
        , coalesce(program, 'All') as program
        , discharge_month
        , coalesce(discharge_reason, 'All') as discharge_reason
        , coalesce(payer, 'All') as payer
        , count(distinct person_key) as persons
        , count(*) as episodes
        , quantile_cont(length_of_stay, 0.5) as median_los
        , quantile_cont(length_of_stay, 0.25) as p25_los
        , quantile_cont(length_of_stay, 0.75) as p75_los
        , quantile_cont(length_of_stay, 0.9) as p90_los
        , round(avg(length_of_stay), 2) as mean_los
        , round(avg(sessions_attended), 2) as mean_sessions_attended
        , round(sum(sessions_attended) / nullif(sum(sessions_scheduled), 0), 4) as attendance_rate
        , count(*) filter (where reason_known) as episodes_with_reason
        , round(count(*) filter (where discharge_reason = 'completed')
            / nullif(episodes_with_reason, 0), 4) as completion_rate
        , round(count(*) filter (where discharge_reason = 'dropped_out')
            / nullif(episodes_with_reason, 0), 4) as dropout_rate
        , round(count(*) filter (where discharge_reason = 'transferred')
            / nullif(episodes_with_reason, 0), 4) as transfer_rate
    from closed
    group by grouping sets (
        (level_of_care)
        , (level_of_care, program)
        , (level_of_care, discharge_month)
        , (level_of_care, discharge_reason)
        , (level_of_care, payer)
    )
)

, primary_suppression as (
    select
        *
        , persons between 1 and 10 as primary_suppressed
        , coalesce(program, '') || coalesce(discharge_month::varchar, '')
            || coalesce(discharge_reason, '') || coalesce(payer, '') as breakdown_value
    from aggregated
)

, suppression as (
    select
        *
        , primary_suppressed or (
            breakdown <> 'level_of_care'
            and count(*) filter (where primary_suppressed) over (partition by breakdown, level_of_care) = 1
            and not primary_suppressed
            and row_number() over (
                partition by breakdown, level_of_care, primary_suppressed
                order by persons, breakdown_value) = 1
        ) as suppressed
    from primary_suppression
)

select
    a.breakdown
    , a.level_of_care
    , a.program
    , a.discharge_month
    , a.discharge_reason
    , a.payer
    , a.suppressed
    , case when not suppressed then a.persons end as persons
    , case when not suppressed then a.episodes end as episodes
    , case
        when a.breakdown <> 'level_of_care' then null
        when coalesce(o.open_episodes, 0) between 1 and 10 then null
        else coalesce(o.open_episodes, 0)
    end as open_episodes
    , case when not suppressed then a.median_los end as median_los
    , case when not suppressed then a.p25_los end as p25_los
    , case when not suppressed then a.p75_los end as p75_los
    , case when not suppressed then a.p90_los end as p90_los
    , case when not suppressed then a.mean_los end as mean_los
    , case when not suppressed then a.mean_sessions_attended end as mean_sessions_attended
    , case when not suppressed then a.attendance_rate end as attendance_rate
    , case when not suppressed then a.episodes_with_reason end as episodes_with_reason
    , case when not suppressed then a.completion_rate end as completion_rate
    , case when not suppressed then a.dropout_rate end as dropout_rate
    , case when not suppressed then a.transfer_rate end as transfer_rate
from suppression as a
left join open_counts as o using (level_of_care)

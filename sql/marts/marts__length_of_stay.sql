-- Length of stay of completed (discharged) episodes: n, median, p25, p75, p90 and mean days,
-- sessions attended, attendance rate and completion / dropout / transfer rates, by level of care
-- and by program, discharge month, discharge reason and payer. Open episodes are counted in
-- `open_episodes` and kept out of every stay statistic. Rates use episodes with a recorded
-- discharge reason as denominator. Privacy: cells of 1-10 persons are suppressed (statistics
-- null), and a breakdown of a level with any suppressed cell gets its smallest other cell
-- suppressed too, so no suppressed one can be recomputed from the level's total. Rates give their
-- numerators back (rate x episodes_with_reason), so those numerators are protected the same way
-- (see rate_hiding). Open-episode counts of 1-10 are suppressed as well.
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
    from {{ ref('marts__episodes') }}
    where not is_open
)

, open_counts as (
    select level_of_care, count(*) as open_episodes
    from {{ ref('marts__episodes') }}
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
        , count(*) filter (where discharge_reason = 'completed') as completed_n
        , count(*) filter (where discharge_reason = 'dropped_out') as dropped_out_n
        , count(*) filter (where discharge_reason = 'transferred') as transferred_n
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
            and count(*) filter (where primary_suppressed) over (partition by breakdown, level_of_care) >= 1
            and not primary_suppressed
            and row_number() over (
                partition by breakdown, level_of_care, primary_suppressed
                order by persons, breakdown_value) = 1
        ) as suppressed
    from primary_suppression
)

-- A rate shows its numerator (rate x episodes_with_reason), so each rate's numerator is a cell
-- too: hidden when it is 1-10; with it the smallest other numerator of the same breakdown and
-- level; and everywhere in a level whose row for that reason is suppressed (the numerators of any
-- breakdown add up to that row's count).
, rate_cells as (
    unpivot (
        select breakdown, level_of_care, breakdown_value, completed_n, dropped_out_n, transferred_n
        from suppression
    )
    on completed_n as completed, dropped_out_n as dropped_out, transferred_n as transferred
    into name reason value numerator
)

, reason_rows as (
    select level_of_care, discharge_reason as reason, suppressed as reason_row_suppressed
    from suppression
    where breakdown = 'discharge_reason'
)

, rate_hiding as (
    select
        c.*
        , c.numerator between 1 and 10 as small
        , small
            or coalesce(r.reason_row_suppressed, false)
            or (
                -- the complement: the smallest other numerator above zero
                count(*) filter (where small) over (partition by c.breakdown, c.level_of_care, c.reason) >= 1
                and c.numerator > 10
                and row_number() over (
                    partition by c.breakdown, c.level_of_care, c.reason, c.numerator > 10
                    order by c.numerator, c.breakdown_value) = 1
            ) as hidden
    from rate_cells as c
    left join reason_rows as r using (level_of_care, reason)
)

, hidden_rates as (
    select
        breakdown
        , level_of_care
        , breakdown_value
        , bool_or(hidden) filter (where reason = 'completed') as completion_hidden
        , bool_or(hidden) filter (where reason = 'dropped_out') as dropout_hidden
        , bool_or(hidden) filter (where reason = 'transferred') as transfer_hidden
    from rate_hiding
    group by all
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
    , case when a.suppressed or h.completion_hidden then null else a.completion_rate end as completion_rate
    , case when a.suppressed or h.dropout_hidden then null else a.dropout_rate end as dropout_rate
    , case when a.suppressed or h.transfer_hidden then null else a.transfer_rate end as transfer_rate
from suppression as a
left join open_counts as o using (level_of_care)
left join hidden_rates as h using (breakdown, level_of_care, breakdown_value)

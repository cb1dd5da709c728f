-- Attendance against billing by month x program x level of care: the person-days of
-- marts.reconciliation_person_day summed by status, and the share of billable attended days billed.
-- No roll-up rows: the day counts add up over programs or levels (and the rate recomputes from
-- them); persons over several programs or levels are recounted from marts.reconciliation_person_day.
-- Grain: one row per month x program x level of care.
with totals as (
    select
        month
        , program
        , level_of_care
        , {{ count_distinct_persons('person_key') }} as persons
        , count(*) as person_days
        , sum(sessions_attended) as sessions_attended
        , sum(claim_lines) as claim_lines
        , count(*) filter (where status = 'attended_and_billed') as attended_and_billed_days
        , count(*) filter (where status = 'attended_not_billed') as attended_not_billed_days
        , count(*) filter (where status = 'billed_not_attended') as billed_not_attended_days
        , count(*) filter (where status = 'attended_no_member_id') as attended_no_member_id_days
    from {{ ref('marts__reconciliation_person_day') }}
    group by month, program, level_of_care
)

select
    month
    , program
    , level_of_care
    , {{ label('level_of_care') }}
    , persons
    , person_days
    , sessions_attended::bigint as sessions_attended
    , claim_lines::bigint as claim_lines
    , attended_and_billed_days
    , attended_not_billed_days
    , billed_not_attended_days
    , attended_no_member_id_days
    , {{ round_double('attended_and_billed_days
        / nullif(attended_and_billed_days + attended_not_billed_days, 0)', 4) }}
        as billed_attended_rate
    , attended_and_billed_days + attended_not_billed_days = 0 as billed_attended_rate_not_applicable
from totals

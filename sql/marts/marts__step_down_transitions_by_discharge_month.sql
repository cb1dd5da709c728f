-- Where clients go after an episode ends: discharged episodes by from-level x to-level, their
-- share of the from-level's discharges, and days to the next level (median, p75); rows here: the
-- month of discharge. Computed with the other step_down_transitions_* marts by
-- step_down_breakdowns() (sql/macros/), which applies the small-cell rule of
-- sql/macros/suppression.sql on the three together, so every one of them suppresses the same
-- cells.
-- Grain: one row per from-level x discharge month x to-level.
with breakdowns as (
    {{ step_down_breakdowns() }}
)

select
    from_level
    , {{ label('from_level', 'level_of_care') }}
    , discharge_month
    , to_level
    , {{ label('to_level', 'level_of_care', fixed={'NONE': 'No next level of care'}) }}
    , direction
    , {{ label('direction', 'transition_direction') }}
    , suppressed
    , transitions
    , from_level_discharges
    , from_level_discharges_suppressed
    , transition_rate
    , transition_rate_suppressed
    , median_days_to_next
    , median_days_to_next_not_applicable
    , p75_days_to_next
    , p75_days_to_next_not_applicable
from breakdowns
where breakdown = 'discharge_month'

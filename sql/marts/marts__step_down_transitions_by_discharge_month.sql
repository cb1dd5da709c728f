-- Where clients go after an episode ends: discharged episodes by from-level x to-level, their share
-- of the from-level's discharges, and days to the next level (median, p75); rows here: the month of
-- discharge. The three step_down_transitions_* marts are computed together, once, in
-- intermediate.step_down_breakdowns (step_down_breakdowns(), sql/macros/step_down.sql), which
-- applies the small-cell rule of sql/macros/suppression.sql on the three at once, so every one of
-- them suppresses the same cells; this mart selects its breakdown's rows from it and adds the
-- labels.
-- Grain: one row per from-level x discharge month x to-level.
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
from {{ ref('intermediate__step_down_breakdowns') }}
where breakdown = 'discharge_month'

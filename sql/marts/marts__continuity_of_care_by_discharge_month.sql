-- Continuity of care in the HEDIS follow-up pattern (follow-up after RES/WM/INPT discharges,
-- step-up after IOP discharges), as rates with 95% Wilson intervals; rows here: the month of
-- discharge. The three continuity_of_care_* marts are computed together, once, in
-- intermediate.continuity_breakdowns (continuity_breakdowns(), sql/macros/continuity.sql), which
-- applies the small-cell rule of sql/macros/suppression.sql on the three at once, so every one of
-- them suppresses the same cells; this mart selects its breakdown's rows from it and adds the
-- labels.
-- Grain: one row per measure x discharge month.
select
    measure
    , {{ label('measure', 'continuity_measure') }}
    , discharge_month
    , suppressed
    , denominator
    , numerator
    , rate
    , rate_ci_low
    , rate_ci_high
from {{ ref('intermediate__continuity_breakdowns') }}
where breakdown = 'discharge_month'

-- Continuity of care in the HEDIS follow-up pattern (follow-up after RES/WM/INPT discharges,
-- step-up after IOP discharges), as rates with 95% Wilson intervals; rows here: every eligible
-- discharge. Computed with the other continuity_of_care_* marts by continuity_breakdowns()
-- (sql/macros/), which applies the small-cell rule of sql/macros/suppression.sql on the three
-- together, so every one of them suppresses the same cells.
-- Grain: one row per measure.
with breakdowns as (
    {{ continuity_breakdowns() }}
)

select
    measure
    , {{ label('measure', 'continuity_measure') }}
    , suppressed
    , denominator
    , numerator
    , rate
    , rate_ci_low
    , rate_ci_high
from breakdowns
where breakdown = 'all'

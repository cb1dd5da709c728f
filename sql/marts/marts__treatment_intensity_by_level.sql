-- Was the program intensive enough? Per level of care (IOP, PHP), every program of the level:
-- the full episode-weeks judged against the ASAM minimum, the share that met it and the
-- quartiles of attended hours in a full week. Computed with the other treatment_intensity_* mart
-- by treatment_intensity_cells() (sql/macros/intensity.sql), which applies the small-cell rule
-- of sql/macros/suppression.sql on the two together.
-- Grain: one row per level of care.
with cells as (
    {{ treatment_intensity_cells() }}
)

select
    level_of_care
    , {{ label('level_of_care') }}
    , suppressed
    , persons
    , episodes
    , episodes_suppressed
    , weeks_judged
    , weeks_judged_suppressed
    , share_weeks_meeting_minimum
    , share_weeks_meeting_minimum_suppressed
    , share_weeks_meeting_minimum_not_applicable
    , p25_weekly_hours
    , median_weekly_hours
    , p75_weekly_hours
from cells
where program = 'All'

-- Was the program intensive enough? Per level of care (IOP, PHP), each EHR program of the level:
-- the full episode-weeks judged against the ASAM minimum, the share that met it and the quartiles
-- of attended hours in a full week. The two treatment_intensity_* marts are computed together,
-- once, in intermediate.treatment_intensity_cells (treatment_intensity_cells(),
-- sql/macros/intensity.sql), which applies the small-cell rule of sql/macros/suppression.sql on the
-- two at once; this mart selects its rows from it and adds the labels.
-- Grain: one row per level of care x program.
select
    level_of_care
    , {{ label('level_of_care') }}
    , program
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
from {{ ref('intermediate__treatment_intensity_cells') }}
where program <> 'All'

-- Length of stay of discharged episodes by payer: persons, episodes, median / p25 / p75 / p90 /
-- mean days, sessions attended, attendance rate and completion / dropout / transfer rates. The five
-- length_of_stay_by_* marts are computed together, once, in intermediate.length_of_stay_breakdowns
-- (length_of_stay_breakdowns(), sql/macros/length_of_stay.sql), which applies the small-cell rule
-- of sql/macros/suppression.sql through its macros on the five at once; this mart selects its
-- breakdown's rows from it and adds the labels.
-- Grain: one row per level of care x payer with a discharged episode.
select
    level_of_care
    , {{ label('level_of_care') }}
    , payer
    , {{ label('payer') }}
    , suppressed
    , persons
    , episodes
    , median_los
    , p25_los
    , p75_los
    , p90_los
    , mean_los
    , mean_sessions_attended
    , attendance_rate
    , attendance_rate_not_applicable
    , episodes_with_reason
    , episodes_with_reason_suppressed
    , completion_rate
    , completion_rate_suppressed
    , completion_rate_not_applicable
    , dropout_rate
    , dropout_rate_suppressed
    , dropout_rate_not_applicable
    , transfer_rate
    , transfer_rate_suppressed
    , transfer_rate_not_applicable
from {{ ref('intermediate__length_of_stay_breakdowns') }}
where breakdown = 'payer'

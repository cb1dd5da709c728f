-- De-identified episodes for BI: one row per episode of care, with its length of stay (also as a
-- TEDS-D LOS code), discharge reason (also as TEDS-D REASON), sessions, the person's
-- demographics at the episode's start (age band, sex, OMB race/ethnicity, payer) and what came
-- next. No names, birth dates, member ids, ZIP codes or exact service dates: persons are keyed
-- pseudonyms, dates are months.
-- Grain: one row per episode.
-- Refreshed by change scope (sql/macros/incremental.sql, mart_scoped()): a refresh deletes the rows
-- of the persons of intermediate.episode_scope (changed persons, and persons with a row that
-- follows the as-of date) and appends them computed again.
{%- do mart_scoped_config(episode_scope_keys(), rebuild_when=none) %}
select
    {{ sha256_hex("p.person_key || '|' || e.level_of_care || '|' || e.episode_number") }}
        as episode_key
    , p.person_key
    , e.level_of_care
    , {{ label('e.level_of_care', 'level_of_care', alias='level_of_care_label') }}
    , loc.rank::integer as level_rank
    , loc.teds_services_d::integer as teds_services_d
    , loc.teds_services_d_label
    , e.program
    , e.source
    , {{ label('e.source', 'episode_source', alias='source_label') }}
    , date_trunc('month', e.start_date)::date as start_month
    , case when not e.is_open then date_trunc('month', e.end_date)::date end as discharge_month
    , e.length_of_stay
    , bins.teds_los::integer as teds_los
    , bins.label as teds_los_label
    , e.is_open
    , e.discharge_reason
    , reason.label as discharge_reason_label
    , reason.teds_reason::integer as teds_reason
    , reason.teds_reason_label
    , e.sessions_scheduled
    , e.sessions_attended
    , case when e.sessions_scheduled > 0
        then round(e.sessions_attended / e.sessions_scheduled, 4) end as attendance_rate
    , coalesce(age.age_band, 'Unknown') as age_band
    , {{ label("coalesce(age.age_band, 'Unknown')", 'age_band', alias='age_band_label') }}
    , p.sex
    , {{ label('p.sex', 'sex', alias='sex_label') }}
    , p.race_ethnicity
    , {{ label('p.race_ethnicity', 'race_ethnicity', alias='race_ethnicity_label') }}
    , p.payer
    , {{ label('p.payer', 'payer', alias='payer_label') }}
    , t.to_level as next_level_of_care
    , {{ label('t.to_level', 'level_of_care', alias='next_level_of_care_label') }}
    , t.days_between as days_to_next_level
    , t.direction as transition_direction
    , {{ label('t.direction', 'transition_direction', alias='transition_direction_label') }}
    , t.window_complete as transition_window_complete
-- the scope is taken first: as a filter of the whole query, DuckDB applies it after the range
-- joins of the length-of-stay bins and age bands (1.0 s of 2.6 at size L for a day's refresh)
from (
    select * from {{ ref('core__episodes') }} where {{ in_episode_scope('person_id') }}
) as e
join {{ ref('core__persons') }} as p using (person_id)
join {{ value_set('level_of_care') }} as loc using (level_of_care)
join {{ ref('core__transitions') }} as t using (episode_id)
left join {{ value_set('teds_los_bins') }} as bins
    on e.length_of_stay between bins.los_from::integer and bins.los_to::integer
left join {{ value_set('discharge_reason') }} as reason using (discharge_reason)
left join {{ value_set('age_bands') }} as age
    on {{ age_years('e.start_date', 'p.birth_date') }}
        between age.age_from::integer and age.age_to::integer

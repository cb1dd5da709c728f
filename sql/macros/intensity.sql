-- treatment_intensity_cells(): the two treatment-intensity marts
-- (marts.treatment_intensity_by_level and marts.treatment_intensity_by_program) computed together,
-- as one relation in which program 'All' marks a level's row, built once as the table
-- intermediate.treatment_intensity_cells. Each mart selects its rows from it: the programs of a
-- level add up to the level's row, so suppression is decided on the two at once and both get the
-- same cells suppressed.
--
-- Was the program intensive enough? Per level of care (IOP, PHP) and EHR program (program 'All' =
-- every program of the level): the full episode-weeks judged against the ASAM minimum
-- (core.episode_weeks: IOP 9 hours adults / 6 adolescents, PHP 20), the share that met it, and
-- the median and quartiles of attended hours in a full week (weeks with no attendance count as 0).
-- Privacy: the small-cell rule of sql/macros/suppression.sql. Its lines here: the programs of a
-- level add up to its row in marts.treatment_intensity_by_level, for the persons of each row (suppressed with the row) and for
-- its episodes, judged weeks and weeks meeting the minimum, each a count of its own.
{% macro treatment_intensity_cells() -%}
with weeks as (
    select *
    from {{ ref('core__episode_weeks') }}
    where level_of_care in ('IOP', 'PHP') and full_week
)

, cells as (
    select
        level_of_care
        , coalesce(program, 'All') as program
        , {{ count_distinct_persons('person_id') }} as persons
        , count(distinct episode_id) as episodes
        , count(*) filter (where meets_minimum is not null) as weeks_judged
        , count(*) filter (where meets_minimum) as weeks_meeting_minimum
        {%- for name, fraction in [('p25', 0.25), ('median', 0.5), ('p75', 0.75)] %}
        , {{ continuous_quantile('attended_hours', fraction) }} as {{ name }}_weekly_hours
        {%- endfor %}
    from weeks
    group by grouping sets ((level_of_care, program), (level_of_care))
)

{%- set key = ['level_of_care', 'program'] %}
{%- set lines = [{
    'by': ['level_of_care'], 'where': "program <> 'All'", 'total': "program = 'All'"
}] %}

, row_suppression as (
    {{ suppress_rows('cells', key, ['persons'], lines) }}
)

, suppression as (
    {{ suppress_counts(
        'row_suppression', key, ['episodes', 'weeks_judged', 'weeks_meeting_minimum']
        , lines, also_hide='suppressed'
    ) }}
)

select
    level_of_care
    , program
    , suppressed
    , {{ published('persons', 'persons', 'suppressed', flag=false) }}
    , {{ published('episodes', 'episodes', 'episodes_suppressed') }}
    , {{ published('weeks_judged', 'weeks_judged', 'weeks_judged_suppressed') }}
    , {{ published('share_weeks_meeting_minimum'
        , round_double('weeks_meeting_minimum / nullif(weeks_judged, 0)', 4)
        , 'weeks_meeting_minimum_suppressed or weeks_judged_suppressed'
        , not_applicable='weeks_judged = 0') }}
    {%- for name in ['p25_weekly_hours', 'median_weekly_hours', 'p75_weekly_hours'] %}
    , {{ published(name, round_double(name, 2), 'suppressed', flag=false) }}
    {%- endfor %}
from suppression
{%- endmacro %}

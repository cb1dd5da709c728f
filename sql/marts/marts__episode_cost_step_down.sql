-- What a course of IOP cost against the residential or partial-hospitalization episode the same
-- persons stepped down from: for each closed RES or PHP episode followed by a step down to IOP
-- within the transition window (core.transitions), with a cost for both episodes, the median
-- allowed and paid amount per episode and per day of stay at the higher level and in IOP, and
-- the median difference (IOP minus higher level) per pair.
-- Privacy: the small-cell rule of sql/macros/suppression.sql. Its lines here: each row is a line
-- of its own (the rows are different populations and add up to nothing published).
-- Grain: one row per level stepped down from (RES, PHP).
with costs as (
    select
        e.episode_id
        , e.person_id
        , e.is_open
        , c.allowed_amount
        , c.paid_amount
        , e.length_of_stay
    from {{ ref('core__episodes') }} as e
    join {{ ref('core__episode_costs') }} as c using (episode_id)
    where c.allowed_amount is not null and c.paid_amount is not null
)

, pairs as (
    select
        t.from_level
        , f.person_id
        , f.allowed_amount as from_allowed
        , f.paid_amount as from_paid
        , f.allowed_amount::double / f.length_of_stay as from_allowed_per_day
        , i.allowed_amount as iop_allowed
        , i.paid_amount as iop_paid
        , i.allowed_amount::double / i.length_of_stay as iop_allowed_per_day
    from {{ ref('core__transitions') }} as t
    join costs as f on f.episode_id = t.episode_id
    join costs as i on i.episode_id = t.next_episode_id
    where t.from_level in ('RES', 'PHP')
        and t.to_level = 'IOP'
        and t.direction = 'step_down'
        and not f.is_open
        and not i.is_open
)

, cells as (
    select
        from_level
        , 'IOP' as to_level
        , {{ count_distinct_persons('person_id') }} as persons
        , count(*) as episode_pairs
        {%- for name, value, scale in [
            ('median_from_allowed', 'from_allowed', 2), ('median_iop_allowed', 'iop_allowed', 2)
            , ('median_from_paid', 'from_paid', 2), ('median_iop_paid', 'iop_paid', 2)
            , ('median_from_allowed_per_day', 'from_allowed_per_day', none)
            , ('median_iop_allowed_per_day', 'iop_allowed_per_day', none)
            , ('median_allowed_difference', 'iop_allowed - from_allowed', 2)
        ] %}
        , {{ continuous_quantile(value, 0.5, scale=scale) }} as {{ name }}
        {%- endfor %}
    from pairs
    group by all
)

, levels as (
    select 'RES' as from_level, 'IOP' as to_level
    union all
    select 'PHP', 'IOP'
)

, spine as (
    select l.from_level, l.to_level, c.* except (from_level, to_level)
    from levels as l
    left join cells as c using (from_level)
)

{%- set key = ['from_level', 'to_level'] %}
{%- set lines = [{'by': ['from_level']}] %}

, row_suppression as (
    {{ suppress_rows('spine', key, ['persons'], lines) }}
)

, suppression as (
    {{ suppress_counts('row_suppression', key, ['episode_pairs'], lines, also_hide='suppressed') }}
)

select
    from_level
    , {{ label('from_level', 'level_of_care') }}
    , to_level
    , {{ label('to_level', 'level_of_care') }}
    , suppressed
    , {{ published('persons', 'coalesce(persons, 0)', 'suppressed', flag=false) }}
    , {{ published('episode_pairs', 'coalesce(episode_pairs, 0)', 'episode_pairs_suppressed') }}
    {#- the medians: suppressed with episode_pairs; not applicable without a pair #}
    {%- for name in [
        'median_from_allowed', 'median_iop_allowed', 'median_from_paid', 'median_iop_paid'
        , 'median_from_allowed_per_day', 'median_iop_allowed_per_day', 'median_allowed_difference'
    ] %}
    , {{ published(name, round_double(name, 2), 'episode_pairs_suppressed'
        , not_applicable='coalesce(episode_pairs, 0) = 0') }}
    {%- endfor %}
from suppression

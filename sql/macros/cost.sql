-- Cost aggregates of closed episodes (marts.episode_cost_by_*), one grain per mart, written once.
-- episode_cost_summary(by): per level of care and the `by` columns (a list, possibly empty), the
-- persons and closed episodes, the episodes with a cost (every line's allowed and paid amount
-- known), totals and the median and quartiles of the allowed and paid amount per episode, per day
-- of stay and per attended hour (episodes with attended hours only), and the share of claim lines
-- paid from 835 remittances. Small cells: the rule of sql/macros/suppression.sql; its line here
-- is the rows of one level of care, whose total (the level's row of marts.episode_cost_by_level)
-- is published there; every count and statistic of a suppressed row is null.
{% macro episode_cost_summary(by) -%}
{%- set key = ['level_of_care'] + by %}
with episodes as (
    select *
    from {{ ref('marts__episode_cost') }}
    where not is_open
)

, cells as (
    select
        level_of_care
        {%- for column in by %}
        , {{ column }}
        {%- endfor %}
        , {{ count_distinct_persons('person_key') }} as persons
        , count(*) as episodes
        , count(*) filter (where allowed_amount is not null and paid_amount is not null)
            as costed_episodes
        , count(*) filter (where cost_coverage = 'ehr_only') as episodes_without_claims
        , sum(allowed_amount) filter (where paid_amount is not null) as allowed_total
        , sum(paid_amount) filter (where allowed_amount is not null) as paid_total
        {%- for amount, other in [('allowed', 'paid'), ('paid', 'allowed')] %}
        {%- set costed = other ~ '_amount is not null' %}
        {%- for name, fraction in [('p25', 0.25), ('median', 0.5), ('p75', 0.75)] %}
        , {{ continuous_quantile(amount ~ '_amount', fraction, where=costed, scale=2) }}
            as {{ name }}_{{ amount }}_per_episode
        {%- endfor %}
        {%- for per in ['day', 'attended_hour'] %}
        , {{ continuous_quantile(amount ~ '_per_' ~ per, 0.5, where=costed) }}
            as median_{{ amount }}_per_{{ per }}
        {%- endfor %}
        {%- endfor %}
        , sum(claim_lines) as claim_lines
        , sum(remitted_lines) as remitted_lines
    from episodes
    group by all
)

{%- set lines = [{'by': ['level_of_care']}] %}

, row_suppression as (
    {{ suppress_rows('cells', key, ['persons'], lines) }}
)

, suppression as (
    {{ suppress_counts(
        'row_suppression', key, ['episodes', 'costed_episodes', 'episodes_without_claims']
        , lines, also_hide='suppressed'
    ) }}
)

select
    level_of_care
    , {{ label('level_of_care') }}
    {%- for column in by %}
    , {{ column }}
    {%- if column == 'payer' %}
    , {{ label('payer') }}
    {%- endif %}
    {%- endfor %}
    , suppressed
    , {{ published('persons', 'persons', 'suppressed', flag=false) }}
    , {{ published('episodes', 'episodes', 'episodes_suppressed') }}
    , {{ published('costed_episodes', 'costed_episodes', 'costed_episodes_suppressed') }}
    , {{ published('episodes_without_claims', 'episodes_without_claims'
        , 'episodes_without_claims_suppressed') }}
    {#- the amounts: suppressed with costed_episodes; not applicable without a costed episode
        (or, per attended hour, without one that has attended hours) #}
    {%- set none_costed = 'costed_episodes = 0' %}
    {%- for name, value, not_applicable in [
        ('allowed_total', 'allowed_total', none_costed)
        , ('paid_total', 'paid_total', none_costed)
        , ('mean_allowed_per_episode'
            , round_double('allowed_total::double / nullif(costed_episodes, 0)', 2), none_costed)
    ] %}
    , {{ published(name, value, 'costed_episodes_suppressed', not_applicable=not_applicable) }}
    {%- endfor %}
    {#- the quartiles and medians, rounded to cents #}
    {%- for name, not_applicable in [
        ('p25_allowed_per_episode', none_costed), ('median_allowed_per_episode', none_costed)
        , ('p75_allowed_per_episode', none_costed), ('p25_paid_per_episode', none_costed)
        , ('median_paid_per_episode', none_costed), ('p75_paid_per_episode', none_costed)
        , ('median_allowed_per_day', none_costed), ('median_paid_per_day', none_costed)
        , ('median_allowed_per_attended_hour', 'median_allowed_per_attended_hour is null')
        , ('median_paid_per_attended_hour', 'median_paid_per_attended_hour is null')
    ] %}
    , {{ published(name, round_double(name, 2), 'costed_episodes_suppressed'
        , not_applicable=not_applicable) }}
    {%- endfor %}
    , {{ published('remitted_line_share', round_double('remitted_lines / nullif(claim_lines, 0)', 4)
        , 'suppressed', flag=false, not_applicable='coalesce(claim_lines, 0) = 0') }}
from suppression
{%- endmacro %}

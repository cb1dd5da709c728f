-- De-identified cost of each episode of care: allowed and paid amounts of its final claim lines
-- (paid from 835 remittances where present, from the claim otherwise; the source named per row),
-- per episode, per day of stay and per attended hour. EHR-only episodes have no cost and
-- claims-only episodes no attended hours: those values are null, never 0.
-- Grain: one row per episode (the episode_key of marts.episodes).
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
    , e.program
    , p.payer
    , {{ label('p.payer', 'payer', alias='payer_label') }}
    , date_trunc('month', e.start_date)::date as start_month
    , e.is_open
    , c.cost_coverage
    , {{ label('c.cost_coverage', 'cost_coverage', alias='cost_coverage_label') }}
    , c.claim_lines
    , c.remitted_lines
    , c.paid_amount_source
    , {{ label('c.paid_amount_source', 'paid_amount_source', alias='paid_amount_source_label') }}
    , c.allowed_amount
    , c.paid_amount
    , e.length_of_stay
    , c.attended_hours
    {%- for amount in ['allowed', 'paid'] %}
    , {{ round_double('c.' ~ amount ~ '_amount::double / e.length_of_stay', 2) }}
        as {{ amount }}_per_day
    {%- endfor %}
    {%- for amount in ['allowed', 'paid'] %}
    , {{ round_double('c.' ~ amount ~ '_amount::double / nullif(c.attended_hours, 0)', 2) }}
        as {{ amount }}_per_attended_hour
    {%- endfor %}
from {{ ref('core__episodes') }} as e
join {{ ref('core__persons') }} as p using (person_id)
join {{ ref('core__episode_costs') }} as c using (episode_id)
where {{ in_episode_scope('e.person_id') }}

-- What follows each episode of a person, without what depends on the as-of date
-- (core.person_transitions; core.transitions in a dbt unit test). The rule: core.transitions.
{% macro transitions_of_persons(episodes) -%}
with ranked as (
    select
        e.*
        , l.rank::integer as level_rank
        , row_number() over (
            partition by e.person_id
            order by e.start_date, e.end_date, l.rank::integer desc, e.level_of_care
        ) as person_order
    from {{ episodes }} as e
    join {{ value_set('level_of_care') }} as l using (level_of_care)
    where {{ in_changed_persons('e.person_id') }}
)

, candidates as (
    select
        this.episode_id
        , next.episode_id as next_episode_id
        , next.level_of_care as next_level
        , next.level_rank as next_rank
        , next.start_date as next_start_date
    from ranked as this
    join ranked as next
        on next.person_id = this.person_id
        and next.person_order > this.person_order
        and next.end_date >= this.end_date
    qualify row_number() over (partition by this.episode_id order by next.person_order) = 1
)

select
    r.episode_id
    , r.person_id
    , r.program
    , r.level_of_care as from_level
    , r.level_rank as from_rank
    , r.start_date as from_start_date
    , r.end_date as from_end_date
    , r.discharge_reason as from_discharge_reason
    , c.next_episode_id
    , c.next_level
    , c.next_start_date
    , {{ days_between('r.end_date', 'c.next_start_date') }} as days_to_next
    , coalesce(days_to_next <= {{ var('transition_window_days') }}, false) as within_window
    , case when within_window then c.next_level end as to_level
    , case when within_window then days_to_next end as days_between
    , case
        when not within_window then 'none'
        when c.next_rank < r.level_rank then 'step_down'
        when c.next_rank > r.level_rank then 'step_up'
        else 'lateral'
    end as direction
from ranked as r
left join candidates as c using (episode_id)
{%- endmacro %}

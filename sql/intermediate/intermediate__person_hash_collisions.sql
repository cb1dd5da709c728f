-- Whether counting persons by a 64-bit hash of their key or id is exact this run
-- (count_distinct_persons(), sql/macros/distinct_persons.sql): how many persons of core.persons
-- share the hash() of their person_key, or of their person_id, with another person. With both 0,
-- the marts count distinct hashes instead of distinct 64-character keys. Built in the marts step,
-- before the marts that count persons. Not published.
-- Grain: one row for the whole data set (this run's persons).
with hashes as (
    select
        hash(person_key) as key_hash
        , hash(person_id) as id_hash
    from {{ ref('core__persons') }}
)

select
    (select count(*) from hashes) - (select count(distinct key_hash) from hashes)
        as shared_key_hashes
    , (select count(*) from hashes) - (select count(distinct id_hash) from hashes)
        as shared_id_hashes

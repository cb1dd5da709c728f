-- The keys each staged file carries that the core layer is keyed by: client ids (of attendance,
-- census and roster files, each its own kind), member ids (of roster files, roster_member; of
-- claims and 835 remittances, member) and claim ids (a claim line's claim id and the original it
-- names; an 835's CLP01 and CLP07).
-- Appended for files not indexed yet and kept for files later dropped, so a dropped file's keys
-- tell what it changed. A file is named by file_id, the first 128 bits of its SHA-256 as an
-- integer: 16 bytes instead of a 64-character string on tens of millions of rows at size L (the
-- distinct keys of a full build then fit DuckDB's memory limit); on Spark, which has no 128-bit
-- integer, the first 64 bits as a bigint (sql/macros/engines_core.sql).
-- Grain: one row per file content x key kind x key value.
{%- do scoped_incremental_config('false') %}
{%- set pending = pending_core_files() %}
with keys as (
    select _file_sha256 as file_sha256, 'client' as key_kind, client_id as key_value
    from {{ ref('staging__attendance') }}
    where {{ pending }}
    union all
    select _file_sha256, 'census_client', client_id from {{ ref('staging__census') }}
    where {{ pending }}
    union all
    select _file_sha256, 'roster_client', client_id from {{ ref('staging__roster') }}
    where {{ pending }}
    union all
    select _file_sha256, 'roster_member', member_id from {{ ref('staging__roster') }}
    where {{ pending }}
    union all
    select _file_sha256
        , {{ unnest_rows(['key_kind', 'key_value'], [
            ["'member'", 'member_id'], ["'claim'", 'claim_id']
            , ["'claim'", 'original_claim_id']]) }}
    from {{ ref('staging__claims') }}
    where {{ pending }}
    union all
    select _file_sha256
        , {{ unnest_rows(['key_kind', 'key_value'], [
            ["'member'", 'member_id'], ["'claim'", 'claim_id']
            , ["'claim'", 'payer_claim_control_number']]) }}
    from {{ ref('staging__remittance_835') }}
    where _rule is null and {{ pending }}
)

select distinct {{ file_id('file_sha256') }} as file_id, key_kind, key_value
from keys
where key_value is not null

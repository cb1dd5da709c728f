-- The keys each staged file carries that the core layer is keyed by: client ids (of attendance,
-- census and roster files, each its own kind), member ids (of roster files, roster_member; of
-- claims and 835 remittances, member) and claim ids (a claim line's claim id and the original it
-- names; an 835's CLP01 and CLP07).
-- Appended for files not indexed yet and kept for files later dropped, so a dropped file's keys
-- tell what it changed. A file is named by file_id, the first 128 bits of its SHA-256 as an
-- integer: 16 bytes instead of a 64-character string on tens of millions of rows at size L.
-- On Spark, which has no 128-bit integer, the first 64 bits as a bigint
-- (sql/macros/engines_core.sql).
-- Each source's keys are made distinct on their own, then appended: no two sources share a row
-- (a file is of one layout; the roster's two selects differ in key kind), so that is the distinct
-- of all of them, with one source's hash table at a time. A full build at L: 26 s and 2.8 GiB
-- peak, against 44 s and 3.3 GiB for one distinct over every source (DuckDB at 3 GB), and it fits
-- a 2.5 GB limit that the one distinct does not.
-- Grain: one row per file content x key kind x key value.
{%- do scoped_incremental_config('false') %}
{%- set pending = pending_core_files() %}
{%- set sources = [
    ["_file_sha256, 'client' as key_kind, client_id as key_value", 'staging__attendance', none],
    ["_file_sha256, 'census_client' as key_kind, client_id as key_value", 'staging__census', none],
    ["_file_sha256, 'roster_client' as key_kind, client_id as key_value", 'staging__roster', none],
    ["_file_sha256, 'roster_member' as key_kind, member_id as key_value", 'staging__roster', none],
    ["_file_sha256, " ~ unnest_rows(['key_kind', 'key_value'], [
        ["'member'", 'member_id'], ["'claim'", 'claim_id'], ["'claim'", 'original_claim_id']]),
        'staging__claims', none],
    ["_file_sha256, " ~ unnest_rows(['key_kind', 'key_value'], [
        ["'member'", 'member_id'], ["'claim'", 'claim_id'],
        ["'claim'", 'payer_claim_control_number']]),
        'staging__remittance_835', '_rule is null'],
] %}
{%- for columns, model, condition in sources %}
{{ 'union all' if not loop.first }}
select distinct {{ file_id('_file_sha256') }} as file_id, key_kind, key_value
from (
    select {{ columns }}
    from {{ ref(model) }}
    where {{ condition ~ ' and ' if condition }}{{ pending }}
) as keys
where key_value is not null
{%- endfor %}

-- Source layouts: the one declaration of every layout a feed delivers in. Read by dbt (the staging
-- macros of sql/macros/staging.sql, the unions, audit.quarantine, audit.row_accounting) and by
-- Python (iop/layouts.py: header detection at ingest, the raw.<layout> views, Excel date cells),
-- so a layout is declared here and nowhere else. The YAML between `raw` and `endraw` is the data;
-- it has to be a macro because dbt resolves a model's ref()s when it parses the project, before
-- any yml or table can be read, and the unions ref every layout of their contract.
--
-- An entry, keyed by layout name (the staging model is sql/staging/staging__<layout>.sql, the raw
-- view raw.<layout>, the codes are the rows of sql/seeds/source_code_map.csv with that `layout`):
--
--   feed         landing folder the files arrive in: attendance, census, roster, claims
--   contract     canonical contract it is staged into (default: the feed): attendance, census,
--                roster, claims (claim lines, unioned in staging.claims) or remittance (835 lines)
--   columns      the header as delivered, in file order: `- Label` when the label normalizes
--                (lower case, non-alphanumerics -> _) to the canonical column, `- Label: canonical`
--                otherwise. Every column listed must be in a file's header (order and case do not
--                matter); a canonical column no rule needs may be left out (it is null).
--                Quote a label YAML would read as something else (Yes, No, On, 1).
--   date_format  strptime format of its dates (default '%Y-%m-%d')
--   time_format  strptime format of its times (default '%H:%M')
--   expected     per coded canonical column, how the quarantine detail names the valid codes
--                (default: points at source_code_map.csv); codes are looked up by the delivered
--                column's normalized name as `field`.
--   id_alphabet  the characters its client and member ids may hold, as a regex character class
--                body (default 'A-Za-z0-9._-'); ids are normalized first (staging.sql, normalize_id)
--   amount_bounds  per amount column, [low, high] replacing the contract's default bounds
--                (staging.sql, amount_bounds)

{% macro iop_layouts() -%}
{%- set declared -%}{% raw %}
attendance_vendor_a:
  feed: attendance
  date_format: '%m/%d/%Y'
  time_format: '%I:%M %p'
  columns:
    - MRN: client_id
    - Program
    - Level of Care
    - Session Date
    - Start Time
    - Service Type
    - Minutes
    - Attendance: attendance_status
    - Clinician ID
  expected:
    level_of_care: one of PHP, IOP, OP
    attendance_status: a known status

attendance_vendor_b:
  feed: attendance
  columns:
    - client_id
    - program_code: program
    - asam_level: level_of_care
    - service_date: session_date
    - start_time
    - service_code: service_type
    - duration_min: minutes
    - attendance_code: attendance_status
    - staff_id: clinician_id
  expected:
    level_of_care: one of 2.5, 2.1, 1
    attendance_status: one of A, NS, CC, CP, EX

census_vendor_a:
  feed: census
  date_format: '%m/%d/%Y'
  time_format: '%I:%M %p'
  columns:
    - MRN: client_id
    - Program
    - Level of Care
    - Admit Date
    - Discharge Date
    - Discharge Reason
  expected:
    level_of_care: one of PHP, IOP, OP

roster_standard:
  feed: roster
  columns:
    - client_id
    - first_name
    - last_name
    - member_id
    - payer
    - birth_date
    - sex
    - race
    - ethnicity
    - zip

claims_csv:
  feed: claims
  columns:
    - claim_id
    - original_claim_id
    - claim_frequency_code
    - line_number
    - claim_type
    - member_id
    - payer
    - service_from_date
    - service_to_date
    - place_of_service
    - bill_type
    - revenue_code
    - procedure_code
    - modifiers
    - units
    - charge_amount
    - allowed_amount
    - paid_amount
    - diagnosis_codes
    - rendering_npi
    - billing_npi
    - received_date
    - adjudicated_date

# 835 remittance lines, produced from X12 files by iop.x12 (each column documented there).
remittance_835:
  feed: claims
  contract: remittance
  columns:
    - claim_id
    - claim_status
    - payer_claim_control_number
    - line_number
    - member_id
    - payer
    - procedure_code
    - modifiers
    - revenue_code
    - units
    - charge_amount
    - paid_amount
    - adjustment_amount
    - adjustment_codes
    - service_date
    - line_control_number
    - payment_date
{% endraw %}{%- endset -%}
{{ return(fromyaml(declared)) }}
{%- endmacro %}


-- 'Level of Care ' -> 'level_of_care', as iop.layouts.normalize_column names raw columns.
{% macro iop_normalize(label) -%}
    {%- set cleaned = label.replace('\ufeff', '').strip().strip('"').lower() -%}
    {{- return(modules.re.sub('[^0-9a-z]+', '_', cleaned).strip('_')) -}}
{%- endmacro %}


-- Names of the declared layouts, in declaration order; of one contract when given.
{% macro iop_layout_names(contract=none) -%}
    {%- set names = [] -%}
    {%- for name, spec in iop_layouts().items() -%}
        {%- if contract is none or spec.get('contract', spec.feed) == contract -%}
            {%- do names.append(name) -%}
        {%- endif -%}
    {%- endfor -%}
    {{- return(names) -}}
{%- endmacro %}


-- One layout, resolved: name, feed, contract, date_format, time_format, expected, amount_bounds,
-- id_alphabet, and per canonical column its raw column (`column`, normalized) and its delivered
-- label (`label`).
{% macro iop_layout(name) -%}
    {%- set declared = iop_layouts() -%}
    {%- if name not in declared -%}
        {{- exceptions.raise_compiler_error(
            "layout " ~ name ~ " is not declared in sql/macros/layouts.sql") -}}
    {%- endif -%}
    {%- set spec = declared[name] -%}
    {%- set layout = {
        'name': name
        , 'feed': spec.feed
        , 'contract': spec.get('contract', spec.feed)
        , 'date_format': spec.get('date_format', '%Y-%m-%d')
        , 'time_format': spec.get('time_format', '%H:%M')
        , 'expected': spec.get('expected') or {}
        , 'amount_bounds': spec.get('amount_bounds') or {}
        , 'id_alphabet': spec.get('id_alphabet')
        , 'column': {}
        , 'label': {}
    } -%}
    {%- for entry in spec.columns -%}
        {%- set pair = (entry.items() | list)[0] if entry is mapping else (entry, none) -%}
        {%- if pair[0] is not string -%}
            {{- exceptions.raise_compiler_error(
                "layout " ~ name ~ ": quote the column label " ~ pair[0] ~ " in sql/macros/layouts.sql") -}}
        {%- endif -%}
        {%- set canonical = pair[1] or iop_normalize(pair[0]) -%}
        {%- do layout.column.update({canonical: iop_normalize(pair[0])}) -%}
        {%- do layout.label.update({canonical: pair[0]}) -%}
    {%- endfor -%}
    {{- return(layout) -}}
{%- endmacro %}

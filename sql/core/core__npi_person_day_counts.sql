-- Billed person-days per billing NPI and EHR client, by whether the client attended an EHR
-- session that day and the program attended (npi_person_day_counts(), sql/macros/billing_npis.sql):
-- the counts core.own_billing_npis adds up per NPI, kept per person so that a refresh by change
-- scope counts again only the changed persons' days instead of grouping every billed day
-- (core.billed_days, 11M rows at size L: ~3 s) each run.
-- Grain: one row per billing NPI x EHR client x attended x attended program.
-- Refreshed by change scope (sql/macros/incremental.sql): the rows of core.changed_persons are
-- deleted and computed again.
{%- do scoped_incremental_config(changed_person_rows()) %}
{{ npi_person_day_counts(ref('core__billed_days'), in_changed_persons()) }}

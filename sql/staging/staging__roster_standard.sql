-- EHR client roster (the crosswalk from EHR client id to payer member id), typed. Names, birth
-- date and ZIP are identifying and never leave core.persons (layout in sql/macros/layouts.sql).
-- Grain: one row per delivered row (accepted and rejected).
{{ stage_roster('roster_standard') }}

-- The treatment-intensity family computed once: treatment_intensity_cells()
-- (sql/macros/intensity.sql) as a table, with its small-cell suppression decided on the programs
-- and their levels' rows together. marts.treatment_intensity_by_level (program 'All') and
-- _by_program (every other program) each select their rows from it (and add the labels), instead
-- of each computing the whole family again. Not published.
-- Grain: one row per level of care (IOP, PHP) x program (program 'All' included).
{{ treatment_intensity_cells() }}

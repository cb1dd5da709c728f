-- Statistical power of a subgroup comparison, shared by every mart that compares a subgroup's
-- rate with the rest of the population.
--
-- Minimum detectable difference (MDD) between two proportions, two-sided test at significance
-- alpha = 0.05 with power 1 - beta = 0.80, normal approximation with the pooled rate:
--     MDD = (z_{1-alpha/2} + z_{1-beta}) * sqrt(p (1 - p) (1/n1 + 1/n2))
-- with z_{0.975} = 1.959964, z_{0.80} = 0.841621, p the pooled rate (the whole population's),
-- n1 the subgroup's denominator and n2 the rest's (population - subgroup). Source: Fleiss, Levin
-- & Paik, Statistical Methods for Rates and Proportions, 3rd ed. (Wiley, 2003), ch. 4 (sample
-- size for comparing two proportions, equal-variance form); Chow, Shao & Wang, Sample Size
-- Calculations in Clinical Research, 2nd ed., sec. 4.2. Worked example (docs/DOMAIN): p = 0.40,
-- n1 = 50, n2 = 1000 -> 2.801585 * sqrt(0.24 * 0.021) = 0.1989. Null when either group is empty
-- or the pooled rate is unknown, 0 or 1 (no variance: the approximation says nothing there).
{% macro min_detectable_difference(n1, n2, pooled_rate) -%}
    case when ({{ n1 }}) > 0 and ({{ n2 }}) > 0
        and ({{ pooled_rate }}) > 0 and ({{ pooled_rate }}) < 1 then
        (1.959964 + 0.841621) * sqrt(
            ({{ pooled_rate }}) * (1 - ({{ pooled_rate }})) * (1 / ({{ n1 }}) + 1 / ({{ n2 }}))
        )
    end
{%- endmacro %}

-- The difference a comparison should be able to detect, as a proportion: dbt var
-- power_detectable_difference_pp (percentage points; default 10; IopSettings of the same name).
{% macro detectable_difference() -%}
    ({{ var('power_detectable_difference_pp', 10) }} / 100.0)
{%- endmacro %}

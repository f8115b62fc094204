"""The names an ODCS library rule may have, mapped to the rule Tauro enforces.

Three spellings reach the same handlers (see `expectations.Deriver.derive_quality`):

- ODCS v3.1+ `metric:` names: `nullValues`, `missingValues`, `invalidValues`,
  `duplicateValues`, `rowCount` (a count over the batch compared with the operators);
- ODCS v3.0.x `rule:` names (the v3.0.x JSON schema's examples): `duplicateCount`
  (= `duplicateValues`), `validValues` with the rule-level `validValues: [...]` list
  (= `invalidValues` with `arguments.validValues`), `rowCount`. From v3.1 on, `rule:` is the
  deprecated spelling of `metric:`, so `rule: nullValues` also works;
- dc43's rule names (`dc43_service_backends.data_quality.backend.engine`): `enum` (the
  allowed values in `mustBe: [...]`), `regex` (the pattern in `mustBe:`), `unique`,
  `not_null` (also `required`). Here `mustBe` is the rule's parameter, as dc43 reads it, and
  the other operators, if any, bound the count of violating rows (default: none allowed).

Names are matched exactly, except dc43's, which dc43 itself lower-cases.
"""

from __future__ import annotations

METRICS = ("nullValues", "missingValues", "invalidValues", "duplicateValues", "rowCount")
V30_RULES = {"duplicateCount": "duplicateValues", "validValues": "invalidValues"}
DC43_RULES = {"enum": "enum", "regex": "regex", "unique": "unique", "not_null": "not_null",
              "required": "not_null"}
ALL_NAMES = (*METRICS, *V30_RULES, *DC43_RULES)

# Names Tauro refuses with a hint of their own (a spelling hint would be wrong for them).
REFUSED_HINTS = {
    "is_null": "'is_null' has no agreed meaning: for values that must be present use "
               "`rule: not_null`; to bound the count of nulls use `metric: nullValues` "
               "with an operator",
}


def canonical(name: str) -> str | None:
    """The handler name for a library rule name, or None when the name is unknown."""
    if name in METRICS:
        return name
    if name in V30_RULES:
        return V30_RULES[name]
    return DC43_RULES.get(name.lower())

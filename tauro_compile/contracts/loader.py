"""Load an ODCS v3 YAML file into a `Contract`, reporting every problem with its line.

The YAML is composed once to keep each key's line, then validated by the
`open-data-contract-standard` models. Keys those models would silently ignore (a typo
such as `mustBeGreaterThen`) are reported, because an ignored rule is an unenforced rule.
`mustBeGreaterThanOrEqualTo` / `mustBeLessThanOrEqualTo` are accepted as spellings of the
standard's `mustBeGreaterOrEqualTo` / `mustBeLessOrEqualTo`, and a v3.0.x rule's own
`validValues` list is read as v3.1's `arguments.validValues` (see `rule_names`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from open_data_contract_standard.model import (
    DataQuality,
    OpenDataContractStandard,
    SchemaObject,
    SchemaProperty,
)
from pydantic import BaseModel, ValidationError

from tauro_compile.contracts.errors import ContractError
from tauro_compile.contracts.expectations import Deriver, _dotted
from tauro_compile.contracts.model import Contract
from tauro_compile.errors import Problem, did_you_mean
from tauro_compile.textfiles import (
    DUPLICATE_HINT,
    ENCODING_HINT,
    TAB_HINT,
    EncodingProblem,
    duplicate_keys,
    field_text,
    read_text,
    tab_indented,
)

SUPPORTED_API_VERSIONS = ("v3.0.0", "v3.0.1", "v3.0.2", "v3.1.0", "v3.2.0")
_OPERATOR_SPELLINGS = {
    "mustBeGreaterThanOrEqualTo": "mustBeGreaterOrEqualTo",
    "mustBeLessThanOrEqualTo": "mustBeLessOrEqualTo",
}


class _Loader(yaml.SafeLoader):
    """Safe YAML that keeps dates and timestamps as the strings the ODCS models expect."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_contract(path: Path | str, object_name: str | None = None) -> Contract:
    """Load and validate a contract file; raise `ContractError` listing every problem.

    A contract with several schema objects needs `object_name` to say which one the node
    writes; with one object it is used whatever its name.
    """
    path = Path(path)
    file = str(path)
    try:
        text = read_text(path)
    except EncodingProblem as exc:
        raise ContractError([Problem(
            exc.message, file=file, line=exc.line, expected="UTF-8 text", found=exc.found,
            hint=ENCODING_HINT, code="encoding",
        )]) from None
    except FileNotFoundError:
        raise ContractError([Problem(
            "contract file not found", file=file, expected="an ODCS v3 YAML file",
            found="no such file", code="contract_missing",
        )]) from None
    except OSError as exc:
        raise ContractError([Problem(f"cannot read contract: {exc}", file=file)]) from None
    return parse_contract(text, file=file, object_name=object_name)


def parse_contract(text: str, file: str | None = None, object_name: str | None = None) -> Contract:
    """Validate contract text (see `load_contract`)."""
    data, lines = _read_yaml(text, file)
    problems = _check_top_level(data, file, lines)
    if problems:
        raise ContractError(problems)
    problems = _normalize_and_check_keys(data, file, lines)
    try:
        document = OpenDataContractStandard.model_validate(data)
    except ValidationError as exc:
        problems += [_pydantic_problem(err, file, lines) for err in exc.errors()]
    if problems:
        raise ContractError(problems)
    index, obj, problems = _select_object(document, object_name, file, lines)
    if problems:
        raise ContractError(problems)
    deriver = Deriver(obj, ("schema", index), file, lambda p: _line(lines, p))
    deriver.derive()
    if deriver.problems:
        raise ContractError(deriver.problems)
    return Contract(
        id=str(document.id), version=str(document.version), name=document.name,
        api_version=str(document.apiVersion), object_name=obj.name,
        columns=tuple(deriver.columns), expectations=tuple(deriver.expectations), path=file,
        not_enforced=tuple(deriver.not_enforced), document=document,
    )


def _read_yaml(text: str, file: str | None) -> tuple[Any, dict[tuple[Any, ...], int]]:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        problem = str(getattr(exc, "problem", None) or exc)
        if tab_indented(text, line, problem):
            raise ContractError([Problem(
                "a tab is used for indentation", file=file, line=line, found="a tab character",
                expected="spaces", hint=TAB_HINT, code="yaml_tab",
            )]) from None
        raise ContractError([Problem(
            f"invalid YAML: {problem}", file=file, line=line,
            expected="a YAML mapping (ODCS v3)", code="yaml",
        )]) from None
    finally:
        loader.dispose()
    duplicates = duplicate_keys(node)
    if duplicates:
        raise ContractError([Problem(
            d.message, file=file, line=d.line, field=field_text(d.path, d.key),
            found=f"'{d.key}' on lines {d.first_line} and {d.line}",
            expected="each key once per mapping", hint=DUPLICATE_HINT, code="duplicate_key",
        ) for d in duplicates])
    lines: dict[tuple[Any, ...], int] = {}
    if node is not None:
        _index_lines(node, (), lines)
    return data, lines


def _index_lines(node: yaml.Node, path: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*path, key.value)
            lines[child] = key.start_mark.line + 1
            _index_lines(value, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index_lines(item, (*path, i), lines)


def _line(lines: dict[tuple[Any, ...], int], path: tuple[Any, ...]) -> int | None:
    """The line of `path`, or of its nearest ancestor present in the file."""
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get(())


def _check_top_level(data: Any, file: str | None, lines: dict[tuple[Any, ...], int]) -> list[Problem]:
    if not isinstance(data, dict):
        return [Problem("a contract must be a YAML mapping", file=file, line=1,
                        expected="an ODCS v3 document (apiVersion, kind, id, version, schema)",
                        found=type(data).__name__ if data is not None else "an empty file")]
    problems = []
    for key, expected in (("apiVersion", "one of " + ", ".join(SUPPORTED_API_VERSIONS)),
                          ("kind", "DataContract"), ("id", "a contract id"),
                          ("version", "the contract version, e.g. 1.0.0"),
                          ("schema", "a list with one schema object and its properties")):
        if data.get(key) in (None, "", []):
            problems.append(Problem(f"missing `{key}`", file=file, line=1, field=key,
                                    expected=expected, found="nothing", code="contract_invalid"))
    api = data.get("apiVersion")
    if api and _api_version(api) not in SUPPORTED_API_VERSIONS:
        problems.append(Problem(
            f"unsupported apiVersion '{api}'", file=file, line=_line(lines, ("apiVersion",)),
            field="apiVersion", expected="one of " + ", ".join(SUPPORTED_API_VERSIONS),
            found=str(api), hint="Tauro reads ODCS v3 contracts", code="contract_invalid",
        ))
    kind = data.get("kind")
    if kind and kind != "DataContract":
        problems.append(Problem(f"unsupported kind '{kind}'", file=file,
                                line=_line(lines, ("kind",)), field="kind",
                                expected="DataContract", found=str(kind), code="contract_invalid"))
    return problems


def _api_version(api: Any) -> str:
    """`v3.0.2` as written, or with the `v` dc43 leaves out (`apiVersion: 3.0.2`)."""
    text = str(api)
    return text if text.startswith("v") else f"v{text}"


def _normalize_and_check_keys(data: dict[str, Any], file: str | None,
                              lines: dict[tuple[Any, ...], int]) -> list[Problem]:
    """Rename accepted operator spellings; report keys the ODCS models would ignore."""
    problems: list[Problem] = []

    def check(item: Any, model: type[BaseModel], path: tuple[Any, ...]) -> None:
        if not isinstance(item, dict):
            return
        known = {f.alias or name for name, f in model.model_fields.items()}
        for key in list(item):
            if key in _OPERATOR_SPELLINGS and model is DataQuality:
                item[_OPERATOR_SPELLINGS[key]] = item.pop(key)
            elif key == "validValues" and model is DataQuality and _fits_arguments(item, key):
                # ODCS v3.0.x: `rule: validValues` with the list beside it; v3.1 puts it in
                # `arguments` (see rule_names).
                item["arguments"] = {**(item.get("arguments") or {}), key: item.pop(key)}
            elif key not in known:
                problems.append(Problem(
                    f"unknown key '{key}' in {model.__name__}", file=file,
                    line=_line(lines, (*path, key)), field=_dotted((*path, key)),
                    expected="a field of the ODCS v3 standard", found=str(key),
                    hint=did_you_mean(str(key), known), code="contract_invalid",
                ))

    def walk_property(prop: Any, path: tuple[Any, ...]) -> None:
        check(prop, SchemaProperty, path)
        if not isinstance(prop, dict):
            return
        for i, rule in enumerate(_as_list(prop.get("quality"))):
            check(rule, DataQuality, (*path, "quality", i))
        for i, child in enumerate(_as_list(prop.get("properties"))):
            walk_property(child, (*path, "properties", i))

    for i, obj in enumerate(_as_list(data.get("schema"))):
        path = ("schema", i)
        check(obj, SchemaObject, path)
        if isinstance(obj, dict):
            for j, prop in enumerate(_as_list(obj.get("properties"))):
                walk_property(prop, (*path, "properties", j))
            for j, rule in enumerate(_as_list(obj.get("quality"))):
                check(rule, DataQuality, (*path, "quality", j))
    return problems


def _fits_arguments(rule: dict[str, Any], key: str) -> bool:
    """True when `key` can move into the rule's `arguments` without overwriting anything."""
    args = rule.get("arguments")
    return args is None or (isinstance(args, dict) and key not in args)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _pydantic_problem(err: Any, file: str | None, lines: dict[tuple[Any, ...], int]) -> Problem:
    loc = tuple(err.get("loc", ()))
    # Union members add their type name to the location (e.g. ('team', 'Team', 'members')).
    path = tuple(p for p in loc if isinstance(p, int) or p in _path_keys(lines))
    found = err.get("input")
    return Problem(
        err.get("msg", "invalid value"), file=file, line=_line(lines, path),
        field=_dotted(path) or None, expected=err.get("type"),
        found=None if isinstance(found, dict | list) else repr(found), code="contract_invalid",
    )


def _path_keys(lines: dict[tuple[Any, ...], int]) -> set[Any]:
    return {part for path in lines for part in path}


def _select_object(document: OpenDataContractStandard, object_name: str | None,
                   file: str | None, lines: dict[tuple[Any, ...], int],
                   ) -> tuple[int, SchemaObject, list[Problem]]:
    objects = document.schema_ or []
    names = [o.name or "" for o in objects]
    if object_name is None and len(objects) == 1:
        return 0, objects[0], []
    if object_name is not None:
        for i, obj in enumerate(objects):
            if object_name in (obj.name, obj.physicalName):
                return i, obj, []
        return 0, objects[0], [Problem(
            f"no schema object '{object_name}' in the contract", file=file,
            line=_line(lines, ("schema",)), field="schema", expected=", ".join(names),
            found=object_name, hint=did_you_mean(object_name, names), code="contract_invalid",
        )]
    return 0, objects[0], [Problem(
        f"the contract has {len(objects)} schema objects; say which one the node writes",
        file=file, line=_line(lines, ("schema",)), field="schema",
        expected="one schema object, or an object name", found=", ".join(names),
        code="contract_invalid",
    )]

"""The dbt selector grammar: every form, intersection, exclude, and errors with hints."""

from __future__ import annotations

import pytest

from tauro_compile.compiler.graph import NodeGraph
from tauro_compile.compiler.selector import SelectableNode, SelectorError, select_nodes
from tauro_compile.errors import UsageError

#  stg_orders -> orders_clean -> revenue -> report
#  stg_users  -> users_clean  -/            (users_clean -> revenue)
#  ad_hoc (isolated)
NODES = {
    "stg_orders": SelectableNode("stg_orders", ("bronze",), "nodes/bronze/stg_orders.yml"),
    "stg_users": SelectableNode("stg_users", ("bronze", "pii"), "nodes/bronze/stg_users.yml"),
    "orders_clean": SelectableNode("orders_clean", ("silver",), "nodes/silver/orders_clean.yml"),
    "users_clean": SelectableNode("users_clean", ("silver", "pii"), "nodes/silver/users_clean.yml"),
    "revenue": SelectableNode("revenue", ("gold",), "nodes/gold/revenue.yml"),
    "report": SelectableNode("report", ("gold", "daily"), "nodes/gold/report.yaml"),
    "ad_hoc": SelectableNode("ad_hoc", (), "nodes/ad_hoc.yml"),
}
GRAPH = NodeGraph(NODES, [
    ("stg_orders", "orders_clean"), ("stg_users", "users_clean"),
    ("orders_clean", "revenue"), ("users_clean", "revenue"), ("revenue", "report"),
])
ORDER = GRAPH.topological_order()


def sel(*select: str, exclude: tuple[str, ...] = ()) -> list[str]:
    return select_nodes(GRAPH, NODES, list(select), exclude)


def test_empty_select_is_every_node_in_topological_order():
    assert sel() == ORDER
    assert ORDER == ["ad_hoc", "stg_orders", "stg_users", "orders_clean", "users_clean",
                     "revenue", "report"]


def test_plain_name():
    assert sel("revenue") == ["revenue"]


def test_union_of_items_in_topological_order():
    assert sel("report", "stg_users") == ["stg_users", "report"]


def test_plus_name_adds_all_ancestors():
    assert sel("+revenue") == ["stg_orders", "stg_users", "orders_clean", "users_clean", "revenue"]


def test_name_plus_adds_all_descendants():
    assert sel("stg_orders+") == ["stg_orders", "orders_clean", "revenue", "report"]


def test_depth_limited_ancestors():
    assert sel("1+revenue") == ["orders_clean", "users_clean", "revenue"]
    assert sel("2+report") == ["orders_clean", "users_clean", "revenue", "report"]


def test_depth_limited_descendants():
    assert sel("stg_users+1") == ["stg_users", "users_clean"]
    assert sel("stg_users+2") == ["stg_users", "users_clean", "revenue"]


def test_both_directions():
    assert sel("+users_clean+") == ["stg_users", "users_clean", "revenue", "report"]


def test_at_adds_descendants_and_their_ancestors():
    assert sel("@stg_users") == ["stg_orders", "stg_users", "orders_clean", "users_clean",
                                 "revenue", "report"]


def test_glob_name():
    assert sel("stg_*") == ["stg_orders", "stg_users"]
    assert sel("*_clean") == ["orders_clean", "users_clean"]


def test_tag():
    assert sel("tag:gold") == ["revenue", "report"]
    assert sel("tag:pii") == ["stg_users", "users_clean"]


def test_tag_with_graph_operator():
    assert sel("tag:daily", exclude=()) == ["report"]
    assert sel("1+tag:daily") == ["revenue", "report"]


def test_path_directory_prefix():
    assert sel("path:nodes/silver") == ["orders_clean", "users_clean"]
    assert sel("path:nodes/silver/") == ["orders_clean", "users_clean"]
    assert sel("path:./nodes/gold") == ["revenue", "report"]
    assert sel("path:nodes") == ORDER


def test_path_does_not_match_a_partial_directory_name():
    with pytest.raises(SelectorError):
        sel("path:nodes/sil")


def test_path_file_with_or_without_extension():
    assert sel("path:nodes/gold/report.yaml") == ["report"]
    assert sel("path:nodes/gold/report") == ["report"]


def test_path_glob():
    assert sel("path:nodes/*/stg_*") == ["stg_orders", "stg_users"]


def test_intersection():
    assert sel("tag:pii,tag:silver") == ["users_clean"]
    assert sel("+revenue,tag:bronze") == ["stg_orders", "stg_users"]
    assert sel("path:nodes/silver,*users*") == ["users_clean"]


def test_exclude_removes_nodes():
    assert sel("+revenue", exclude=("tag:bronze",)) == ["orders_clean", "users_clean", "revenue"]
    assert sel(exclude=("tag:gold", "ad_hoc")) == ["stg_orders", "stg_users", "orders_clean",
                                                   "users_clean"]


def test_exclude_with_intersection():
    assert sel("tag:silver", exclude=("tag:silver,tag:pii",)) == ["orders_clean"]


def test_exclude_everything_gives_empty_list():
    assert sel("revenue", exclude=("revenue",)) == []


def test_unknown_name_error_has_did_you_mean():
    with pytest.raises(SelectorError) as info:
        sel("revenu")
    err = info.value
    assert isinstance(err, UsageError) and err.exit_code == 2
    assert err.selector == "revenu"
    assert "'revenu' matches no node" in err.message
    assert err.hint == "did you mean 'revenue'?"


def test_bare_tag_name_suggests_tag_method():
    with pytest.raises(SelectorError) as info:
        sel("pii")
    assert info.value.hint == "did you mean 'tag:pii'?"


def test_unknown_tag_error_suggests_close_tag():
    with pytest.raises(SelectorError) as info:
        sel("tag:slver")
    assert info.value.hint == "did you mean 'silver'?"


def test_unknown_path_error_suggests_close_path():
    with pytest.raises(SelectorError) as info:
        sel("path:nodes/silvr")
    assert info.value.hint == "did you mean 'nodes/silver'?"


def test_unknown_name_without_close_match_lists_nodes():
    with pytest.raises(SelectorError) as info:
        sel("zzzzzz")
    assert info.value.hint.startswith("nodes: ad_hoc, orders_clean")


def test_every_unmatched_selector_is_reported_at_once():
    with pytest.raises(SelectorError) as info:
        sel("revenu", exclude=("tag:goldd",))
    msg, hint = info.value.message, info.value.hint
    assert "'revenu' matches no node" in msg and "'tag:goldd' matches no node" in msg
    assert "'revenu': did you mean 'revenue'?" in hint
    assert "'tag:goldd': did you mean 'gold'?" in hint


def test_empty_intersection_is_an_error_saying_why():
    with pytest.raises(SelectorError) as info:
        sel("tag:gold,tag:bronze")
    assert info.value.selector == "tag:gold,tag:bronze"
    assert "no node matches all of them" in info.value.hint


@pytest.mark.parametrize("bad", ["+", "a++", "a+b", "2+", "@+a", "@a+", "a@b", "+a+x"])
def test_bad_syntax_says_what_is_expected(bad):
    with pytest.raises(SelectorError) as info:
        sel(bad)
    assert f"'{bad}'" in info.value.message
    assert info.value.hint


def test_empty_part_of_intersection_is_bad_syntax():
    with pytest.raises(SelectorError) as info:
        sel("a,,b")
    assert "empty part" in info.value.message


def test_unknown_method_has_did_you_mean():
    with pytest.raises(SelectorError) as info:
        sel("tags:gold")
    assert "unknown selector method 'tags:'" in info.value.message
    assert info.value.hint == "did you mean 'tag'?"


def test_method_without_value():
    with pytest.raises(SelectorError) as info:
        sel("tag:")
    assert "no value" in info.value.message


def test_blank_items_are_ignored():
    assert sel("", "  ") == ORDER

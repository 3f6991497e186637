"""A lab of several server/client pairs: the inventory names each host's pair,
and a matrix is sharded so that every cell the report compares (and each
A/A twin with its original) stays on one pair, balanced and the same every
time for the same cells and pairs."""
from __future__ import annotations

import dataclasses

import pytest

from runner.core.errors import LabError
from runner.core.model import AA_SUFFIX
from runner.execute.pairs import comparison_group, shard
from runner.execute.run import with_aa_twins
from runner.lab.inventory import load_lab, render_inventory
from runner.matrix.expand import CellSpec


@dataclasses.dataclass(frozen=True)
class FakeCell:            # what sharding reads of a cell
    cell_id: str
    spec: CellSpec


def cells(views=("drf", "sync", "async"), djangos=("5.2.19",)) -> list:
    out = []
    for view in views:
        for django in djangos:
            for server in ("gunicorn-sync", "uvicorn"):
                spec = CellSpec(python="3.12", django=django, asgiref="3.13.0", server=server,
                                workers=1, view=view)
                out.append(FakeCell(f"{server}-{view}-{django}", spec))
    return out


def inventory(tmp_path, hosts: dict):
    lab_hosts = {name: {"name": name, "role": h["role"], "address": h["address"], "ssh_user": "root",
                        "ssh_private_key": "/k", "ssh_known_hosts": "/kh", "cpus": "0",
                        "lab_root": f"/r/{name}", "pair": h.get("pair", "")}
                 for name, h in hosts.items()}
    path = tmp_path / "inventory" / "two" / "hosts.yml"
    path.parent.mkdir(parents=True)
    path.write_text(render_inventory("two", {"lab_hosts": {"value": lab_hosts}}, "/s"))
    return load_lab("two", tmp_path)


def test_the_inventory_groups_hosts_into_pairs(tmp_path):
    lab = inventory(tmp_path, {
        "server-a": {"role": "server", "address": "198.18.4.10", "pair": "a"},
        "client-a": {"role": "client", "address": "198.18.4.11", "pair": "a"},
        "server-b": {"role": "server", "address": "198.18.4.12", "pair": "b"},
        "client-b": {"role": "client", "address": "198.18.4.13", "pair": "b"},
        "db": {"role": "db", "address": "198.18.4.14"}})
    assert [(p.name, p.server.name, p.client.name) for p in lab.pairs()] == [
        ("a", "server-a", "client-a"), ("b", "server-b", "client-b")]
    assert lab.first("server").name == "server-a"
    with pytest.raises(LabError, match="expected exactly one host with role 'server', found 2"):
        lab.by_role("server")


def test_a_lab_without_pair_names_is_one_pair_and_a_half_pair_is_named(tmp_path):
    one = inventory(tmp_path / "1", {"server": {"role": "server", "address": "198.18.0.11"},
                                     "client": {"role": "client", "address": "198.18.0.10"}})
    assert [(p.name, p.server.name) for p in one.pairs()] == [("", "server")]
    half = inventory(tmp_path / "2", {
        "server": {"role": "server", "address": "198.18.0.11", "pair": "a"},
        "client": {"role": "client", "address": "198.18.0.10", "pair": "a"},
        "server-b": {"role": "server", "address": "198.18.0.12", "pair": "b"}})
    with pytest.raises(LabError, match="pair 'b' has 1 server.s. and 0 client.s.; a pair needs one of each"):
        half.pairs()


def pairs(*names):
    return [type("P", (), {"name": n})() for n in names]


def test_cells_the_report_compares_stay_on_one_pair_with_their_twins():
    all_cells = with_aa_twins(cells(views=("drf", "sync", "async", "drf-debug")), "gunicorn-sync")
    out = shard(all_cells, pairs("a", "b"))
    assert sorted(c.cell_id for c in out["a"] + out["b"]) == sorted(c.cell_id for c in all_cells)
    for name, mine in out.items():
        groups = {comparison_group(c) for c in mine}
        others = {comparison_group(c) for n, theirs in out.items() if n != name for c in theirs}
        assert not groups & others                      # no comparison crosses pairs
        ids = {c.cell_id for c in mine}
        assert all(i.removesuffix(AA_SUFFIX) in ids for i in ids)   # a twin sits with its original
    assert len(out["a"]) == len(out["b"]) == 6           # 4 groups of 3 cells, 2 per pair


def test_sharding_is_balanced_deterministic_and_names_every_pair():
    many = cells(views=("drf", "sync", "async"), djangos=("4.2.27", "5.2.19"))   # 6 groups of 2
    first = shard(many, pairs("a", "b", "c", "d"))
    assert sorted(len(v) for v in first.values()) == [2, 2, 4, 4]
    assert shard(list(reversed(many)), pairs("a", "b", "c", "d")) == first
    assert shard(cells(views=("drf",)), pairs("a", "b"))["b"] == []      # one group: one pair

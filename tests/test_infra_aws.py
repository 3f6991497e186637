"""The infra/aws Terraform module, checked statically (no AWS, no network).

The module cannot be initialised here (`terraform init` downloads the aws
provider), so it is checked three ways: `terraform fmt -check`; every .tf
parsed with python-hcl2 and its shape checked (the provider pin, the host
contract, the variables, SSH only from the controller, the placement group,
bare metal); and the variables' validations run by `terraform plan` on
variables.tf alone (no provider needed). Each check is also shown to fail on
a copy of the module broken on purpose.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import hcl2
import pytest
from hcl2.utils import SerializationOptions

from runner import REPO_ROOT
from runner.lab.inventory import HOST_CONTRACT, LAB_ADDRESS

MODULE = REPO_ROOT / "infra" / "aws"

# Every variable the module promises (the keys of an `aws:` entry in infra/labs.yaml).
REQUIRED_VARIABLES = (
    "lab_name", "region", "availability_zone", "instance_type", "allow_non_metal", "db_host",
    "controller_cidr", "ssh_public_key", "ssh_private_key", "known_hosts", "ssh_user", "cpus",
    "lab_root", "image_name_pattern", "image_owner", "vpc_cidr", "subnet_cidr",
)
REQUIRED_OUTPUTS = ("lab_hosts", "lab_name", "private_addresses")
OPEN_CIDRS = ("0.0.0.0/0", "::/0")

# Strings without their quotes, blocks without markers: the pre-8.0 python-hcl2 shape.
HCL_OPTIONS = SerializationOptions(strip_string_quotes=True, explicit_blocks=False,
                                   with_comments=False)


# --- parsing ---------------------------------------------------------------------------

def parse_module(path: Path) -> dict:
    """Every .tf in `path`, merged: terraform blocks as a list, variables, outputs and
    providers by name, resources and data sources by (type, name)."""
    files = sorted(path.glob("*.tf"))
    assert files, f"no .tf files in {path}"
    mod = {"terraform": [], "provider": {}, "variable": {}, "output": {}, "locals": [],
           "resource": {}, "data": {}}
    for tf in files:
        with tf.open() as fh:
            doc = hcl2.load(fh, serialization_options=HCL_OPTIONS)
        mod["terraform"] += doc.get("terraform", [])
        mod["locals"] += doc.get("locals", [])
        for kind in ("provider", "variable", "output"):
            for block in doc.get(kind, []):
                mod[kind].update(block)
        for kind in ("resource", "data"):
            for block in doc.get(kind, []):
                for rtype, by_name in block.items():
                    for rname, body in by_name.items():
                        mod[kind][(rtype, rname)] = body
    return mod


def _blocks(value) -> list[dict]:
    """A nested block as python-hcl2 gives it: a list of dicts (or one dict)."""
    if value is None:
        return []
    return [b for b in (value if isinstance(value, list) else [value]) if isinstance(b, dict)]


def _matching(text: str, start: int) -> int:
    """Index of the bracket closing the one at text[start], skipping quoted strings."""
    pairs = {"{": "}", "[": "]", "(": ")"}
    stack = []
    i = start
    while i < len(text):
        c = text[i]
        if c == '"':
            i += 1
            while i < len(text) and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif c in pairs:
            stack.append(pairs[c])
        elif c in pairs.values():
            if not stack or stack.pop() != c:
                raise ValueError(f"unbalanced {c!r} at {i} in {text!r}")
            if not stack:
                return i
        i += 1
    raise ValueError(f"unclosed bracket at {start} in {text!r}")


def _top_level_items(body: str) -> list[str]:
    """The items of an object literal's body, split at commas and newlines that are
    not inside brackets or strings."""
    items, depth, current, i = [], 0, [], 0
    while i < len(body):
        c = body[i]
        if c == '"':
            j = i + 1
            while j < len(body) and body[j] != '"':
                j += 2 if body[j] == "\\" else 1
            current.append(body[i:j + 1])
            i = j + 1
            continue
        if c in "{[(":
            depth += 1
        elif c in "}])":
            depth -= 1
        if depth == 0 and c in ",\n":
            items.append("".join(current))
            current = []
        else:
            current.append(c)
        i += 1
    items.append("".join(current))
    return [item.strip() for item in items if item.strip()]


KEY_RE = re.compile(r'"?([A-Za-z_][A-Za-z0-9_-]*)"?\s*(?:=(?!=)|:)')


def for_object_keys(expr) -> set[str]:
    """The keys of the object a for-expression `{for k, v in X : k => {...}}` builds.

    python-hcl2 gives the expression as a string, "${{for ... => {a = x, b = y}}}".
    Every item of the object must read `key = value` (or `key: value`), else the
    item is returned as it is so it can never equal a set of plain keys."""
    assert isinstance(expr, str), f"expected a for-expression, got {expr!r}"
    text = expr.strip()
    if text.startswith("${") and text.endswith("}"):
        text = text[2:-1].strip()
    assert re.match(r"^\{\s*for\s", text), f"not a for-expression: {expr!r}"
    arrow = text.find("=>")
    assert arrow > 0, f"not an object for-expression (no =>): {expr!r}"
    start = text.find("{", arrow)
    assert start > 0, f"the for-expression does not build an object literal: {expr!r}"
    body = text[start + 1:_matching(text, start)]
    keys = set()
    for item in _top_level_items(body):
        m = KEY_RE.match(item)
        keys.add(m.group(1) if m else item)
    return keys


# --- the checks: each returns its problems, [] when the module is right ---------------------

def check_provider_pinned(mod: dict) -> list[str]:
    versions = []
    for block in mod["terraform"]:
        for rp in _blocks(block.get("required_providers")):
            if "aws" in rp:
                versions.append(rp["aws"])
    if len(versions) != 1:
        return [f"expected one required_providers.aws, found {len(versions)}"]
    aws = versions[0]
    problems = []
    if aws.get("source") != "hashicorp/aws":
        problems.append(f"aws source is {aws.get('source')!r}, not hashicorp/aws")
    version = str(aws.get("version", "")).strip()
    if not re.fullmatch(r"=?\s*\d+\.\d+\.\d+", version):
        problems.append(f"aws provider version {version!r} is not pinned exactly (= X.Y.Z)")
    required = [b.get("required_version") for b in mod["terraform"] if b.get("required_version")]
    if required != [">= 1.9"]:
        problems.append(f"required_version is {required!r}, expected ['>= 1.9']")
    return problems


def check_outputs(mod: dict) -> list[str]:
    return [f"no output {name!r}" for name in REQUIRED_OUTPUTS if name not in mod["output"]]


def check_host_contract(mod: dict) -> list[str]:
    out = mod["output"].get("lab_hosts")
    if out is None:
        return ["no output 'lab_hosts'"]
    try:
        keys = for_object_keys(out.get("value"))
    except (AssertionError, ValueError) as exc:
        return [f"lab_hosts value: {exc}"]
    # A cloud host's lab traffic runs over its private address (the optional key).
    contract = set(HOST_CONTRACT) | {LAB_ADDRESS}
    problems = []
    if keys - contract:
        problems.append(f"lab_hosts has keys outside HOST_CONTRACT: {sorted(keys - contract)}")
    if contract - keys:
        problems.append(f"lab_hosts lacks HOST_CONTRACT keys: {sorted(contract - keys)}")
    return problems


def check_variables(mod: dict) -> list[str]:
    problems = [f"no variable {name!r}" for name in REQUIRED_VARIABLES if name not in mod["variable"]]
    for name, body in mod["variable"].items():
        if not body.get("type"):
            problems.append(f"variable {name!r} has no type")
        if not body.get("description"):
            problems.append(f"variable {name!r} has no description")
    return problems


def _ingress_rules(mod: dict) -> list[tuple[str, dict]]:
    """Every ingress rule, inline or standalone, with where it is."""
    rules = []
    for (rtype, rname), body in mod["resource"].items():
        where = f"{rtype}.{rname}"
        if rtype == "aws_security_group":
            rules += [(where, b) for b in _blocks(body.get("ingress"))]
        elif rtype == "aws_security_group_rule" and body.get("type") == "ingress":
            rules.append((where, body))
        elif rtype == "aws_vpc_security_group_ingress_rule":
            rules.append((where, body))
    return rules


def _cidrs(rule: dict) -> list[str]:
    found = []
    for field in ("cidr_blocks", "ipv6_cidr_blocks", "cidr_ipv4", "cidr_ipv6"):
        value = rule.get(field)
        found += [str(v) for v in (value if isinstance(value, list) else [value]) if v]
    return found


def check_security_group(mod: dict) -> list[str]:
    rules = _ingress_rules(mod)
    if not rules:
        return ["no ingress rules"]
    problems = []
    ssh = [(w, r) for w, r in rules if r.get("from_port") == 22 and r.get("to_port") == 22]
    if not ssh:
        problems.append("no SSH (tcp/22) ingress")
    for where, rule in ssh:
        if rule.get("protocol") != "tcp":
            problems.append(f"{where}: SSH ingress protocol is {rule.get('protocol')!r}, not tcp")
        if _cidrs(rule) != ["${var.controller_cidr}"]:
            problems.append(f"{where}: SSH ingress is from {_cidrs(rule)}, not [var.controller_cidr]")
    for where, rule in rules:
        open_to = [c for c in _cidrs(rule) if c in OPEN_CIDRS]
        if open_to:
            problems.append(f"{where}: ingress open to {open_to}")
        if (where, rule) not in ssh and not (rule.get("self") is True and not _cidrs(rule)):
            problems.append(f"{where}: ingress other than SSH must be from the group itself only")
    return problems


def check_instances(mod: dict) -> list[str]:
    instances = {k: v for k, v in mod["resource"].items() if k[0] == "aws_instance"}
    groups = {k[1]: v for k, v in mod["resource"].items() if k[0] == "aws_placement_group"}
    if not instances:
        return ["no aws_instance"]
    problems = []
    for name, body in groups.items():
        if body.get("strategy") != "cluster":
            problems.append(f"aws_placement_group.{name}: strategy {body.get('strategy')!r}, not cluster")
    for (_, name), body in instances.items():
        ref = re.fullmatch(r"\$\{aws_placement_group\.([A-Za-z0-9_-]+)\.(?:name|id)\}",
                           str(body.get("placement_group", "")))
        if not ref or ref.group(1) not in groups:
            problems.append(f"aws_instance.{name}: placement_group {body.get('placement_group')!r} "
                            "is not a placement group of the module")
        if not str(body.get("subnet_id", "")).startswith("${aws_subnet."):
            problems.append(f"aws_instance.{name}: not in the module's subnet")
        if body.get("associate_public_ip_address") is not True:
            problems.append(f"aws_instance.{name}: no public IP (the controller reaches hosts there)")
    return problems


def check_metal_default(mod: dict) -> list[str]:
    default = mod["variable"].get("instance_type", {}).get("default")
    if not (isinstance(default, str) and default.endswith(".metal")):
        return [f"instance_type default {default!r} is not a .metal type"]
    return []


CHECKS = {
    "provider_pinned": check_provider_pinned,
    "outputs": check_outputs,
    "host_contract": check_host_contract,
    "variables": check_variables,
    "security_group": check_security_group,
    "instances": check_instances,
    "metal_default": check_metal_default,
}


@pytest.fixture(scope="module")
def module() -> dict:
    return parse_module(MODULE)


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_module_passes_check(module, name):
    assert CHECKS[name](module) == []


def test_lab_hosts_keys_are_the_host_contract(module):
    assert for_object_keys(module["output"]["lab_hosts"]["value"]) == set(HOST_CONTRACT) | {LAB_ADDRESS}


# --- each check fails on a copy of the module broken on purpose ----------------------------

def broken_copy(tmp_path: Path, file: str, old: str, new: str) -> Path:
    """A copy of the module with one edit; the edit must apply (the module changed
    if it does not, and the negative case would prove nothing)."""
    copy = tmp_path / "aws"
    shutil.copytree(MODULE, copy, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
    path = copy / file
    text = path.read_text()
    assert text.count(old) == 1, f"{file}: {old!r} occurs {text.count(old)} times"
    path.write_text(text.replace(old, new))
    return copy


BROKEN = [
    ("provider_pinned", "versions.tf", 'version = "= 5.82.2"', 'version = "~> 5.82"'),
    ("provider_pinned", "versions.tf", 'version = "= 5.82.2"', 'version = ">= 5.82.2"'),
    ("outputs", "outputs.tf", 'output "lab_name" {', 'output "name" {'),
    ("outputs", "outputs.tf", 'output "private_addresses" {', 'output "addresses" {'),
    ("host_contract", "outputs.tf", "      lab_root        = local.lab_root\n", ""),
    ("host_contract", "outputs.tf", "      lab_root        = local.lab_root\n",
     "      lab_root        = local.lab_root\n      zone = h.availability_zone\n"),
    ("host_contract", "outputs.tf", "ssh_known_hosts = var.known_hosts",
     "known_hosts = var.known_hosts"),
    ("variables", "variables.tf", 'variable "controller_cidr" {', 'variable "controller" {'),
    ("variables", "variables.tf",
     '  description = "AWS region the lab is built in, e.g. eu-central-1."\n  type        = string\n',
     '  description = "AWS region the lab is built in, e.g. eu-central-1."\n'),
    ("security_group", "main.tf", "cidr_blocks = [var.controller_cidr]",
     'cidr_blocks = ["0.0.0.0/0"]'),
    ("security_group", "main.tf", "cidr_blocks = [var.controller_cidr]",
     "cidr_blocks = [var.controller_cidr, var.vpc_cidr]"),
    ("security_group", "main.tf", "    self        = true\n",
     '    cidr_blocks = ["0.0.0.0/0"]\n'),
    ("instances", "main.tf", "  placement_group             = aws_placement_group.lab.name\n", ""),
    ("instances", "main.tf", 'strategy = "cluster"', 'strategy = "spread"'),
    ("metal_default", "variables.tf", 'default     = "c6i.metal"', 'default     = "c6i.large"'),
]


@pytest.mark.parametrize("name,file,old,new", BROKEN,
                         ids=[f"{b[0]}-{i}" for i, b in enumerate(BROKEN)])
def test_check_fails_on_broken_module(tmp_path, name, file, old, new):
    broken = parse_module(broken_copy(tmp_path, file, old, new))
    assert CHECKS[name](broken), f"check {name} passed a module broken on purpose"
    # The break is the only thing wrong: every other check still passes.
    others = {n: CHECKS[n](broken) for n in CHECKS if n != name}
    assert not any(others.values()), others


def test_for_object_keys_reads_what_python_hcl2_gives():
    expr = ('${{for name, h in aws_instance.host : name => {name = name, role = '
            'local.hosts[name].role, "address" = h.public_ip, cpus: lookup(x, "a,b = c"), '
            'lab_root = {a = 1, b = 2}}}}')
    assert for_object_keys(expr) == {"name", "role", "address", "cpus", "lab_root"}
    with pytest.raises(AssertionError):
        for_object_keys("${{a = 1}}")
    with pytest.raises(AssertionError):
        for_object_keys("${{for k, v in x : k => v}}")


# --- terraform itself: fmt, and the variables' validations ---------------------------------

TERRAFORM = shutil.which("terraform")


def terraform(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([TERRAFORM, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=30, env={"PATH": "/usr/bin:/bin", "TF_IN_AUTOMATION": "1",
                                           "TF_CLI_CONFIG_FILE": "/dev/null",
                                           "CHECKPOINT_DISABLE": "1"})


@pytest.mark.integration
@pytest.mark.needs("terraform")
def test_terraform_fmt_check():
    result = terraform("fmt", "-check", "-recursive", str(MODULE), cwd=REPO_ROOT)
    assert result.returncode == 0, f"needs `terraform fmt`: {result.stdout}{result.stderr}"


@pytest.mark.integration
@pytest.mark.needs("terraform")
def test_terraform_fmt_check_fails_on_misformatted_copy(tmp_path):
    copy = broken_copy(tmp_path, "outputs.tf", "value       = var.lab_name", "value = var.lab_name")
    assert terraform("fmt", "-check", "-recursive", str(copy), cwd=tmp_path).returncode != 0


@pytest.fixture
def variables_only(tmp_path) -> tuple[Path, list[str]]:
    """variables.tf alone (no provider, so `terraform plan` runs offline) and the
    -var arguments of a valid lab."""
    if TERRAFORM is None:
        pytest.skip("terraform not on PATH")
    work = tmp_path / "vars"
    work.mkdir()
    shutil.copy(MODULE / "variables.tf", work / "variables.tf")
    (work / "stub.tf").write_text('terraform {\n  required_version = ">= 1.9"\n}\n')
    (work / "id_ed25519.pub").write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDummyKeyForTests lab\n")
    (work / "id_ed25519").write_text("not a real key\n")
    good = ["-var=lab_name=aws", "-var=region=eu-central-1", "-var=controller_cidr=203.0.113.7/32",
            f"-var=ssh_public_key={work / 'id_ed25519.pub'}",
            f"-var=ssh_private_key={work / 'id_ed25519'}",
            f"-var=known_hosts={work / 'known_hosts'}"]
    return work, good


def test_variables_accept_a_valid_lab(variables_only):
    work, good = variables_only
    result = terraform("plan", "-input=false", "-no-color", "-refresh=false", *good,
                       "-var=db_host=true", "-var=availability_zone=eu-central-1a", cwd=work)
    if "Unsupported Terraform Core version" in result.stderr:
        pytest.skip("terraform on PATH is older than 1.9")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("bad,variable", [
    ("instance_type=c6i.large", "instance_type"),
    ("controller_cidr=0.0.0.0/0", "controller_cidr"),
    ("ssh_public_key=/nonexistent/id_ed25519.pub", "ssh_public_key"),
    ("availability_zone=us-east-1a", "availability_zone"),
    ('cpus={server="2-x",client="1"}', "cpus"),
    ("lab_root=/", "lab_root"),
])
def test_variables_refuse_bad_values(variables_only, bad, variable):
    work, good = variables_only
    result = terraform("plan", "-input=false", "-no-color", "-refresh=false", *good, f"-var={bad}",
                       cwd=work)
    if "Unsupported Terraform Core version" in result.stderr:
        pytest.skip("terraform on PATH is older than 1.9")
    assert result.returncode != 0
    assert "Invalid value for variable" in result.stderr
    assert f'variable "{variable}"' in result.stderr, result.stderr


def test_non_metal_needs_allow_non_metal(variables_only):
    work, good = variables_only
    result = terraform("plan", "-input=false", "-no-color", "-refresh=false", *good,
                       "-var=instance_type=c6i.large", "-var=allow_non_metal=true", cwd=work)
    if "Unsupported Terraform Core version" in result.stderr:
        pytest.skip("terraform on PATH is older than 1.9")
    assert result.returncode == 0, result.stderr

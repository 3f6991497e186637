# The local lab: a real multi-host topology on one Linux box.
#
#   root namespace: bridge djl-<lab> (<subnet>.1) ── the controller reaches hosts through it
#     ├── veth djl-<lab>-0 ── netns djlab-<lab>-<host0>: eth0 <subnet>.10, sshd, cpuset <cpus>
#     └── veth djl-<lab>-1 ── netns djlab-<lab>-<host1>: eth0 <subnet>.11, sshd, cpuset <cpus>
#
# Only built-in `terraform_data` resources with local-exec provisioners: nothing to
# download. The shell logic lives in scripts/*.sh; each script is idempotent.
#
# Every resource keeps what its destroy provisioner needs in `input` (destroy-time
# provisioners may only read `self`), and `triggers_replace` carries the same value:
# a changed `input` alone would update the resource in place WITHOUT re-running the
# create provisioner, so any change must mean destroy + create instead.

locals {
  state_dir = trimsuffix(var.state_dir, "/")
  scripts   = abspath("${path.module}/scripts")

  bridge        = "djl-${var.lab_name}"
  cgroup_parent = "djlab-${var.lab_name}"
  prefix_length = split("/", var.subnet)[1]

  ssh_private_key = "${local.state_dir}/ssh/id_ed25519"
  ssh_known_hosts = "${local.state_dir}/ssh/known_hosts"

  # Sorted names give every host a stable index, hence its address and veth name.
  host_names = sort(keys(var.hosts))
  hosts = {
    for i, name in local.host_names : name => {
      name      = name
      role      = var.hosts[name].role
      cpus      = var.hosts[name].cpus
      pair      = var.hosts[name].pair
      address   = cidrhost(var.subnet, 10 + i)
      namespace = "djlab-${var.lab_name}-${name}"
      veth      = "djl-${var.lab_name}-${i}"
      cgroup    = "${local.cgroup_parent}/${name}"
      dir       = "${local.state_dir}/hosts/${name}"
      lab_root  = "${local.state_dir}/hosts/${name}/root"
    }
  }
}

# Lab-wide pieces: the bridge, the parent cpuset cgroup, the lab's client SSH key.
locals {
  lab_input = {
    lab_name       = var.lab_name
    bridge         = local.bridge
    bridge_address = "${cidrhost(var.subnet, 1)}/${local.prefix_length}"
    cgroup_parent  = local.cgroup_parent
    state_dir      = local.state_dir
    scripts        = local.scripts
  }
}

resource "terraform_data" "lab" {
  input            = local.lab_input
  triggers_replace = local.lab_input

  provisioner "local-exec" {
    command = "${self.input.scripts}/lab_up.sh"
    environment = {
      LAB_NAME       = self.input.lab_name
      BRIDGE         = self.input.bridge
      BRIDGE_ADDRESS = self.input.bridge_address
      CGROUP_PARENT  = self.input.cgroup_parent
      STATE_DIR      = self.input.state_dir
    }
  }

  provisioner "local-exec" {
    when    = destroy
    command = "${self.input.scripts}/lab_down.sh"
    environment = {
      LAB_NAME       = self.input.lab_name
      BRIDGE         = self.input.bridge
      BRIDGE_ADDRESS = self.input.bridge_address
      CGROUP_PARENT  = self.input.cgroup_parent
      STATE_DIR      = self.input.state_dir
    }
  }
}

# One host: namespace + veth + address, cpuset cgroup, host key, sshd inside both.
locals {
  host_inputs = {
    for name, h in local.hosts : name => {
      lab_name  = var.lab_name
      host      = name
      namespace = h.namespace
      veth      = h.veth
      bridge    = local.bridge
      address   = "${h.address}/${local.prefix_length}"
      cpus      = h.cpus
      cgroup    = h.cgroup
      host_dir  = h.dir
      lab_root  = h.lab_root
      state_dir = local.state_dir
      scripts   = local.scripts
      tw_max    = var.time_wait_max
      # A rebuilt bridge/key (a replaced lab resource) must rebuild the hosts too.
      lab_id = terraform_data.lab.id
    }
  }
}

resource "terraform_data" "host" {
  for_each = local.hosts

  input            = local.host_inputs[each.key]
  triggers_replace = local.host_inputs[each.key]

  provisioner "local-exec" {
    command = "${self.input.scripts}/host_up.sh"
    environment = {
      LAB_NAME  = self.input.lab_name
      HOST      = self.input.host
      NETNS     = self.input.namespace
      VETH      = self.input.veth
      BRIDGE    = self.input.bridge
      ADDRESS   = self.input.address
      CPUS      = self.input.cpus
      CGROUP    = self.input.cgroup
      HOST_DIR  = self.input.host_dir
      LAB_ROOT  = self.input.lab_root
      STATE_DIR = self.input.state_dir
      TW_MAX    = self.input.tw_max
    }
  }

  provisioner "local-exec" {
    when    = destroy
    command = "${self.input.scripts}/host_down.sh"
    environment = {
      LAB_NAME  = self.input.lab_name
      HOST      = self.input.host
      NETNS     = self.input.namespace
      VETH      = self.input.veth
      BRIDGE    = self.input.bridge
      ADDRESS   = self.input.address
      CPUS      = self.input.cpus
      CGROUP    = self.input.cgroup
      HOST_DIR  = self.input.host_dir
      LAB_ROOT  = self.input.lab_root
      STATE_DIR = self.input.state_dir
    }
  }
}

# The lab's known_hosts: every host key under its lab address. Built once all hosts
# exist (one writer, no race between parallel host provisioners); rebuilt whenever a
# host is replaced, since a new host gets a new host key.
locals {
  known_hosts_input = {
    file    = local.ssh_known_hosts
    scripts = local.scripts
    # "address=public key file" pairs, space separated (paths hold no whitespace).
    entries  = join(" ", [for name in local.host_names : "${local.hosts[name].address}=${local.hosts[name].dir}/ssh_host_ed25519_key.pub"])
    host_ids = [for name in local.host_names : terraform_data.host[name].id]
  }
}

resource "terraform_data" "known_hosts" {
  input            = local.known_hosts_input
  triggers_replace = local.known_hosts_input

  provisioner "local-exec" {
    command = "${self.input.scripts}/known_hosts.sh"
    environment = {
      KNOWN_HOSTS = self.input.file
      ENTRIES     = self.input.entries
    }
  }

  provisioner "local-exec" {
    when    = destroy
    command = "rm -f -- \"$KNOWN_HOSTS\" \"$KNOWN_HOSTS.tmp\""
    environment = {
      KNOWN_HOSTS = self.input.file
    }
  }
}

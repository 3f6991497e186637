# The `static` lab: machines that already exist (a rack, hosts built by hand).
# It emits the same `lab_hosts` contract as infra/local, so Ansible and the
# runner treat these hosts exactly like the local lab's.
locals {
  hosts = {
    for name, h in var.hosts : name => {
      name            = name
      role            = h.role
      address         = h.address
      ssh_user        = h.ssh_user
      ssh_private_key = h.ssh_private_key
      ssh_known_hosts = var.known_hosts
      cpus            = h.cpus
      lab_root        = coalesce(h.lab_root, "/var/lib/djlab/${var.lab_name}")
      lab_address     = coalesce(h.lab_address, h.address)
    }
  }
}

# Records each host in the lab's state, so `lab down` knows which hosts' lab
# folders to delete even after the lab's entry in infra/labs.yaml has changed.
resource "terraform_data" "host" {
  for_each = local.hosts
  input    = each.value
}

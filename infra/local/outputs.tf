# `lab_hosts` is the contract every lab module emits (this one, and any future module
# for real hardware): runner/lab/targets/local.py turns it into inventory/<lab>/hosts.yml.
output "lab_hosts" {
  description = "Hosts by name: name, role, address, ssh_user, ssh_private_key, ssh_known_hosts (absolute paths), cpus, lab_root, pair (\"\" unless the lab declares several server/client pairs)."
  value = {
    for name, h in local.hosts : name => {
      name            = name
      role            = h.role
      address         = h.address
      ssh_user        = "root"
      ssh_private_key = local.ssh_private_key
      ssh_known_hosts = local.ssh_known_hosts
      cpus            = h.cpus
      lab_root        = h.lab_root
      pair            = h.pair
    }
  }
  # Only hand out the hosts once their host keys are in known_hosts.
  depends_on = [terraform_data.known_hosts]
}

output "lab_name" {
  description = "The lab's name."
  value       = var.lab_name
}

output "subnet" {
  description = "The lab's /24 inside 198.18.0.0/15."
  value       = var.subnet
}

output "bridge" {
  description = "The bridge in the root namespace that joins the hosts (holds the subnet's .1)."
  value       = local.bridge
}

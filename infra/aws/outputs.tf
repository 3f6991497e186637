# The host contract every lab module emits (infra/local and infra/static have the
# same outputs): runner/lab/inventory.py turns `lab_hosts` into
# inventory/<lab>/hosts.yml. The controller reaches each host at its public
# address.
output "lab_hosts" {
  description = "Hosts by name: name, role, address (public IP), ssh_user, ssh_private_key, ssh_known_hosts (absolute paths on the controller), cpus, lab_root, lab_address (the private IP lab traffic uses)."
  value = {
    for name, h in aws_instance.host : name => {
      name            = name
      role            = local.hosts[name].role
      address         = h.public_ip
      ssh_user        = var.ssh_user
      ssh_private_key = var.ssh_private_key
      ssh_known_hosts = var.known_hosts
      cpus            = local.hosts[name].cpus
      lab_root        = local.lab_root
      lab_address     = h.private_ip
    }
  }
}

output "lab_name" {
  description = "The lab's name."
  value       = var.lab_name
}

output "private_addresses" {
  description = "Each host's private address in subnet_cidr, by host name: lab traffic between the hosts (client to server, server to db) runs over these."
  value       = { for name, h in aws_instance.host : name => h.private_ip }
}

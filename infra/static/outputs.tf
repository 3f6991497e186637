# The host contract every lab module emits (infra/local has the same outputs):
# runner/lab/inventory.py turns `lab_hosts` into inventory/<lab>/hosts.yml.
output "lab_hosts" {
  description = "Hosts by name: name, role, address, ssh_user, ssh_private_key, ssh_known_hosts (absolute paths), cpus, lab_root."
  value       = { for name, h in terraform_data.host : name => h.output }
}

output "lab_name" {
  description = "The lab's name."
  value       = var.lab_name
}

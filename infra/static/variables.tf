variable "lab_name" {
  description = "Short lab name: it names the lab's folder on the controller (.lab/<lab>) and its inventory."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{0,7}$", var.lab_name))
    error_message = "lab_name must match ^[a-z][a-z0-9]{0,7}$."
  }
}

variable "state_dir" {
  description = "Absolute path of the lab's folder on the controller (<repo>/.lab/<lab_name>)."
  type        = string

  validation {
    condition     = can(regex("^/[^[:space:]]+$", var.state_dir)) && trimsuffix(var.state_dir, "/") != ""
    error_message = "state_dir must be an absolute path without whitespace, and not /."
  }
}

variable "known_hosts" {
  description = "Absolute path of the known_hosts file holding every host's key under its address (`lab up` writes .lab/<lab>/known_hosts by ssh-keyscan when the lab's entry names none)."
  type        = string

  validation {
    condition     = can(regex("^/[^[:space:]]+$", var.known_hosts))
    error_message = "known_hosts must be an absolute path without whitespace."
  }
}

# Machines that already exist. Nothing here creates or changes a machine: the
# module checks the list and hands it on as the lab's host contract.
variable "hosts" {
  description = "Existing machines by name: address, ssh_user, ssh_private_key (absolute path on the controller), role (server, client or db), cpus (the cpuset list the lab pins that host's work to) and, optionally, lab_root (the folder the lab owns on it; `lab down` deletes it) and lab_address (the address lab traffic uses when it is not `address`, e.g. a private network behind a public SSH address)."
  type = map(object({
    address         = string
    ssh_user        = string
    ssh_private_key = string
    role            = string
    cpus            = string
    lab_root        = optional(string)
    lab_address     = optional(string)
  }))

  validation {
    condition     = alltrue([for name in keys(var.hosts) : can(regex("^[a-z][a-z0-9-]{0,30}$", name))])
    error_message = "hosts: names must match ^[a-z][a-z0-9-]{0,30}$; bad: ${join(", ", [for n in keys(var.hosts) : n if !can(regex("^[a-z][a-z0-9-]{0,30}$", n))])}."
  }
  validation {
    condition     = alltrue([for h in values(var.hosts) : contains(["server", "client", "db"], h.role)])
    error_message = "hosts.<name>.role must be server, client or db; bad: ${join(", ", [for n, h in var.hosts : "${n} (${h.role})" if !contains(["server", "client", "db"], h.role)])}."
  }
  validation {
    condition     = length([for h in values(var.hosts) : h if h.role == "server"]) >= 1 && length([for h in values(var.hosts) : h if h.role == "client"]) >= 1
    error_message = "hosts must hold at least one host with role server and one with role client."
  }
  validation {
    condition     = length(distinct([for h in values(var.hosts) : h.address])) == length(var.hosts)
    error_message = "hosts.<name>.address must be unique; shared: ${join(", ", distinct([for n, h in var.hosts : "${h.address} (${join(", ", [for m, g in var.hosts : m if g.address == h.address])})" if length([for g in values(var.hosts) : g if g.address == h.address]) > 1]))}."
  }
  validation {
    condition     = alltrue([for h in values(var.hosts) : can(regex("^[A-Za-z0-9][A-Za-z0-9.:-]*$", h.address))])
    error_message = "hosts.<name>.address must be a host name or an IP address; bad: ${join(", ", [for n, h in var.hosts : "${n} (${h.address})" if !can(regex("^[A-Za-z0-9][A-Za-z0-9.:-]*$", h.address))])}."
  }
  validation {
    condition     = alltrue([for h in values(var.hosts) : can(regex("^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$", h.cpus))])
    error_message = "hosts.<name>.cpus must be a cpuset list such as \"0\", \"2-7\" or \"0,2-3\"; bad: ${join(", ", [for n, h in var.hosts : "${n} (${h.cpus})" if !can(regex("^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$", h.cpus))])}."
  }
  validation {
    condition     = alltrue([for h in values(var.hosts) : can(regex("^[a-z_][a-z0-9_-]{0,31}$", h.ssh_user))])
    error_message = "hosts.<name>.ssh_user must be a user name; bad: ${join(", ", [for n, h in var.hosts : "${n} (${h.ssh_user})" if !can(regex("^[a-z_][a-z0-9_-]{0,31}$", h.ssh_user))])}."
  }
  validation {
    condition     = alltrue([for h in values(var.hosts) : startswith(h.ssh_private_key, "/") && fileexists(h.ssh_private_key)])
    error_message = "hosts.<name>.ssh_private_key must be an absolute path to an existing file on the controller; missing: ${join(", ", [for n, h in var.hosts : "${n} (${h.ssh_private_key})" if !(startswith(h.ssh_private_key, "/") && fileexists(h.ssh_private_key))])}."
  }
  validation {
    condition     = alltrue([for h in values(var.hosts) : h.lab_root == null || can(regex("^/[^[:space:]]*[^/[:space:]]$", h.lab_root))])
    error_message = "hosts.<name>.lab_root must be an absolute path without whitespace, and not /."
  }
}

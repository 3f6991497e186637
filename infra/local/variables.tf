variable "lab_name" {
  description = "Short lab name; it prefixes every kernel object of the lab (bridge djl-<lab>, veths djl-<lab>-<i>, namespaces djlab-<lab>-<host>, cgroup djlab-<lab>), so keep it short enough for 15-character interface names."
  type        = string
  default     = "local"

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{0,7}$", var.lab_name))
    error_message = "lab_name must match ^[a-z][a-z0-9]{0,7}$ (interface names are limited to 15 characters)."
  }
}

variable "subnet" {
  description = "The lab's /24 inside 198.18.0.0/15 (RFC 2544 benchmarking range): the bridge takes .1, hosts take .10, .11, ... in sorted host-name order."
  type        = string
  default     = "198.18.0.0/24"

  validation {
    condition = (
      can(regex("^198\\.1[89]\\.[0-9]{1,3}\\.0/24$", var.subnet))
      && can(cidrhost(var.subnet, 0))
      && try(cidrhost(var.subnet, 0) == split("/", var.subnet)[0], false)
    )
    error_message = "subnet must be a /24 network inside 198.18.0.0/15, e.g. 198.18.0.0/24."
  }
}

variable "state_dir" {
  description = "Absolute path (outside git) where the lab keeps its SSH keys, known_hosts, per-host sshd configs, pid files and lab roots; the caller passes <repo>/.lab/<lab_name>."
  type        = string

  validation {
    condition     = can(regex("^/[^[:space:]]+$", var.state_dir)) && trimsuffix(var.state_dir, "/") != ""
    error_message = "state_dir must be an absolute path without whitespace, and not /."
  }
}

variable "hosts" {
  description = "Lab hosts by name: role (becomes the Ansible group), cpus (a cpuset list such as \"1\" or \"0-3,6\" the host is pinned to) and, in a lab of several server/client pairs, pair (the pair's name; the runner shards a matrix over the pairs)."
  type = map(object({
    role = string
    cpus = string
    pair = optional(string, "")
  }))
  default = {
    server = { role = "server", cpus = "1" }
    client = { role = "client", cpus = "0" }
  }

  validation {
    condition     = length(var.hosts) >= 1 && length(var.hosts) <= 100
    error_message = "hosts must hold 1 to 100 hosts (veth names djl-<lab>-<index> must fit in 15 characters)."
  }
  validation {
    condition     = alltrue([for name in keys(var.hosts) : can(regex("^[a-z][a-z0-9-]{0,30}$", name))])
    error_message = "host names must match ^[a-z][a-z0-9-]{0,30}$."
  }
  validation {
    condition     = alltrue([for h in values(var.hosts) : can(regex("^[a-z][a-z0-9_]{0,30}$", h.role))])
    error_message = "roles must match ^[a-z][a-z0-9_]{0,30}$ (they become Ansible group names)."
  }
  validation {
    condition     = alltrue([for h in values(var.hosts) : can(regex("^[a-z0-9]{0,8}$", h.pair))])
    error_message = "pair must match ^[a-z0-9]{0,8}$ (empty: the lab is one pair)."
  }
  validation {
    condition     = alltrue([for h in values(var.hosts) : can(regex("^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$", h.cpus))])
    error_message = "cpus must be a cpuset list such as \"0\", \"1-3\" or \"0,2-3\"."
  }
}

variable "time_wait_max" {
  description = "net.ipv4.tcp_max_tw_buckets in every host's namespace: at most this many sockets wait in TIME_WAIT; beyond it the kernel closes them at once. A connection-per-request window closes thousands of connections a second, and left to pile up for their 60 s (the kernel default allows 131072) they slow every later connect(), so a cell would measure worse late in a run than early."
  type        = number
  default     = 256

  validation {
    condition     = var.time_wait_max >= 0 && floor(var.time_wait_max) == var.time_wait_max
    error_message = "time_wait_max must be a whole number >= 0."
  }
}

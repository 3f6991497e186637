variable "lab_name" {
  description = "Short lab name: it names the lab's folder on the controller (.lab/<lab>), its inventory and every AWS resource (djlab-<lab>-...)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{0,7}$", var.lab_name))
    error_message = "lab_name must match ^[a-z][a-z0-9]{0,7}$."
  }
}

variable "region" {
  description = "AWS region the lab is built in, e.g. eu-central-1."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+$", var.region))
    error_message = "region must be an AWS region name such as eu-central-1."
  }
}

variable "availability_zone" {
  description = "Availability zone of the lab's subnet (all hosts share it: a cluster placement group lives in one zone). null: the first zone, in sorted order, that offers instance_type."
  type        = string
  default     = null

  validation {
    condition     = var.availability_zone == null ? true : startswith(var.availability_zone, var.region)
    error_message = "availability_zone must be a zone of the region, e.g. eu-central-1a for eu-central-1."
  }
}

variable "instance_type" {
  description = "EC2 instance type of every host. Bare metal (*.metal) by default: no hypervisor between the benchmark and the CPUs, so cpusets name real cores."
  type        = string
  default     = "c6i.metal"

  validation {
    condition     = can(regex("^[a-z0-9-]+\\.[a-z0-9-]+$", var.instance_type)) && (var.allow_non_metal || endswith(var.instance_type, ".metal"))
    error_message = "instance_type must be a bare-metal type ending in .metal (e.g. c6i.metal), unless allow_non_metal = true."
  }
}

variable "allow_non_metal" {
  description = "Allow an instance_type that is not bare metal (cheaper trial runs; numbers from virtual machines are not comparable with bare metal)."
  type        = bool
  default     = false
}

variable "db_host" {
  description = "Add a third host with role db (the server and client hosts are always there)."
  type        = bool
  default     = false
}

variable "controller_cidr" {
  description = "The controller's public IPv4 address as a /32 CIDR, e.g. 203.0.113.7/32: SSH to the hosts is admitted from it and nowhere else."
  type        = string

  validation {
    condition     = can(cidrnetmask(var.controller_cidr)) && endswith(var.controller_cidr, "/32")
    error_message = "controller_cidr must be one IPv4 address as a /32 CIDR, e.g. 203.0.113.7/32."
  }
}

variable "ssh_public_key" {
  description = "Path of the lab's own SSH public key file on the controller (e.g. <repo>/.lab/<lab>/ssh/id_ed25519.pub); it becomes the hosts' EC2 key pair. An absolute path: relative paths resolve against infra/aws."
  type        = string

  validation {
    condition     = try(fileexists(var.ssh_public_key), false)
    error_message = "ssh_public_key must name an existing file (create the key with ssh-keygen -t ed25519 -f <repo>/.lab/<lab>/ssh/id_ed25519 -N '')."
  }
  validation {
    condition     = try(fileexists(var.ssh_public_key), false) ? can(regex("^(ssh-ed25519|ssh-rsa) [A-Za-z0-9+/=]+", file(var.ssh_public_key))) : true
    error_message = "ssh_public_key must hold an OpenSSH ed25519 or RSA public key (the types EC2 key pairs accept)."
  }
}

variable "ssh_private_key" {
  description = "Absolute path of the lab's private key (the pair of ssh_public_key) on the controller; handed on in lab_hosts, never read or uploaded."
  type        = string

  validation {
    condition     = can(regex("^/[^[:space:]]+$", var.ssh_private_key)) && try(fileexists(var.ssh_private_key), false)
    error_message = "ssh_private_key must be an absolute path without whitespace to an existing file on the controller."
  }
}

variable "known_hosts" {
  description = "Absolute path of the lab's known_hosts file on the controller, holding every host's key under its public address (it need not exist yet: `lab up` writes it)."
  type        = string

  validation {
    condition     = can(regex("^/[^[:space:]]+$", var.known_hosts))
    error_message = "known_hosts must be an absolute path without whitespace."
  }
}

variable "ssh_user" {
  description = "The image's login user (admin on Debian's official images); it has passwordless sudo."
  type        = string
  default     = "admin"

  validation {
    condition     = can(regex("^[a-z_][a-z0-9_-]{0,31}$", var.ssh_user))
    error_message = "ssh_user must be a user name."
  }
}

variable "cpus" {
  description = "The cpuset list each role's host pins the lab's work to, by role (server, client and, with db_host, db). A c6i.metal has 128 CPUs (0-127); the defaults leave 0-1 to the system."
  type        = map(string)
  default = {
    server = "2-63"
    client = "2-63"
    db     = "2-63"
  }

  validation {
    condition     = alltrue([for role in keys(var.cpus) : contains(["server", "client", "db"], role)])
    error_message = "cpus: roles must be server, client or db; bad: ${join(", ", [for role in keys(var.cpus) : role if !contains(["server", "client", "db"], role)])}."
  }
  validation {
    condition     = contains(keys(var.cpus), "server") && contains(keys(var.cpus), "client") && (!var.db_host || contains(keys(var.cpus), "db"))
    error_message = "cpus must name the server and client roles, and db when db_host = true."
  }
  validation {
    condition     = alltrue([for c in values(var.cpus) : can(regex("^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$", c))])
    error_message = "cpus.<role> must be a cpuset list such as \"0\", \"2-63\" or \"0,2-3\"; bad: ${join(", ", [for r, c in var.cpus : "${r} (${c})" if !can(regex("^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$", c))])}."
  }
}

variable "lab_root" {
  description = "The folder the lab owns on every host (`lab down` deletes it). null: /var/lib/djlab/<lab_name>."
  type        = string
  default     = null

  validation {
    condition     = var.lab_root == null ? true : can(regex("^/[^[:space:]]*[^/[:space:]]$", var.lab_root))
    error_message = "lab_root must be an absolute path without whitespace, and not /."
  }
}

variable "image_name_pattern" {
  description = "Name pattern of the hosts' image (AMI), pinned to one Debian 12 release so a lab rebuilt later runs the same kernel and libraries; the newest match is taken."
  type        = string
  default     = "debian-12-amd64-20240717-*"

  validation {
    condition     = length(trimspace(var.image_name_pattern)) > 0
    error_message = "image_name_pattern must not be empty."
  }
}

variable "image_owner" {
  description = "AWS account that publishes the image (136693071363: Debian's official images)."
  type        = string
  default     = "136693071363"

  validation {
    condition     = can(regex("^[0-9]{12}$", var.image_owner))
    error_message = "image_owner must be a 12-digit AWS account id."
  }
}

variable "vpc_cidr" {
  description = "IPv4 range of the lab's own VPC."
  type        = string
  default     = "10.77.0.0/16"

  validation {
    condition     = can(cidrnetmask(var.vpc_cidr))
    error_message = "vpc_cidr must be an IPv4 CIDR such as 10.77.0.0/16."
  }
}

variable "subnet_cidr" {
  description = "IPv4 range of the lab's one subnet, inside vpc_cidr; hosts' private addresses (the lab's traffic between hosts) come from it."
  type        = string
  default     = "10.77.1.0/24"

  validation {
    condition     = can(cidrnetmask(var.subnet_cidr))
    error_message = "subnet_cidr must be an IPv4 CIDR such as 10.77.1.0/24."
  }
}

variable "root_volume_size" {
  description = "Size in GiB of every host's root volume (gp3): the lab's Pythons, wheels and results live there."
  type        = number
  default     = 30

  validation {
    condition     = var.root_volume_size >= 8 && floor(var.root_volume_size) == var.root_volume_size
    error_message = "root_volume_size must be a whole number of GiB, at least 8."
  }
}

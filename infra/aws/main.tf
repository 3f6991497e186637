# The `aws` lab: bare-metal EC2 hosts (server, client and, optionally, db) in
# one cluster placement group, on one subnet of the lab's own VPC. The
# controller reaches them over SSH at their public addresses, from
# controller_cidr only; lab traffic between hosts runs over their private
# addresses. It emits the same `lab_hosts` contract as infra/local and
# infra/static.
locals {
  prefix   = "djlab-${var.lab_name}"
  lab_root = coalesce(var.lab_root, "/var/lib/djlab/${var.lab_name}")

  # Host name = role: one host per role.
  roles = concat(["server", "client"], var.db_host ? ["db"] : [])
  hosts = {
    for role in local.roles : role => {
      role = role
      cpus = var.cpus[role]
    }
  }

  # All hosts in one zone (a cluster placement group cannot span zones), one
  # that offers instance_type: metal types are not in every zone.
  availability_zone = (
    var.availability_zone != null
    ? var.availability_zone
    : try(sort(data.aws_ec2_instance_type_offerings.host.locations)[0], null)
  )
}

data "aws_ec2_instance_type_offerings" "host" {
  location_type = "availability-zone"

  filter {
    name   = "instance-type"
    values = [var.instance_type]
  }
}

# The instance type's CPU architecture picks the image's.
data "aws_ec2_instance_type" "host" {
  instance_type = var.instance_type
}

data "aws_ami" "host" {
  most_recent = true
  owners      = [var.image_owner]

  filter {
    name   = "name"
    values = [var.image_name_pattern]
  }
  filter {
    name   = "architecture"
    values = data.aws_ec2_instance_type.host.supported_architectures
  }
  filter {
    name   = "virtualization-type"
    values = ["hvm"]
  }
}

# --- network -------------------------------------------------------------------------

resource "aws_vpc" "lab" {
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true

  tags = { Name = "${local.prefix}-vpc", Lab = var.lab_name }
}

resource "aws_subnet" "lab" {
  vpc_id            = aws_vpc.lab.id
  cidr_block        = var.subnet_cidr
  availability_zone = local.availability_zone

  tags = { Name = "${local.prefix}-subnet", Lab = var.lab_name }

  lifecycle {
    precondition {
      condition     = local.availability_zone == null ? false : contains(data.aws_ec2_instance_type_offerings.host.locations, local.availability_zone)
      error_message = "instance_type ${var.instance_type} is not offered in ${coalesce(var.availability_zone, "any availability zone of ${var.region}")}."
    }
  }
}

# An internet gateway and a default route: the controller's SSH reaches the
# hosts' public addresses, and the hosts reach Debian's mirrors (apt).
resource "aws_internet_gateway" "lab" {
  vpc_id = aws_vpc.lab.id

  tags = { Name = "${local.prefix}-igw", Lab = var.lab_name }
}

resource "aws_route_table" "lab" {
  vpc_id = aws_vpc.lab.id

  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.lab.id
  }

  tags = { Name = "${local.prefix}-rt", Lab = var.lab_name }
}

resource "aws_route_table_association" "lab" {
  subnet_id      = aws_subnet.lab.id
  route_table_id = aws_route_table.lab.id
}

resource "aws_security_group" "lab" {
  name        = "${local.prefix}-hosts"
  description = "djlab ${var.lab_name}: SSH from the controller only, anything between the lab's hosts"
  vpc_id      = aws_vpc.lab.id

  ingress {
    description = "SSH from the controller"
    protocol    = "tcp"
    from_port   = 22
    to_port     = 22
    cidr_blocks = [var.controller_cidr]
  }

  ingress {
    description = "Lab traffic between the lab's hosts"
    protocol    = "-1"
    from_port   = 0
    to_port     = 0
    self        = true
  }

  # Outbound: to the other hosts, and to package mirrors while the lab is set up.
  egress {
    description = "Anything outbound"
    protocol    = "-1"
    from_port   = 0
    to_port     = 0
    cidr_blocks = ["0.0.0.0/0"]
  }

  tags = { Name = "${local.prefix}-hosts", Lab = var.lab_name }
}

# --- hosts ---------------------------------------------------------------------------

# Cluster: the hosts sit close together in one zone (low-latency, high-bandwidth
# network between them), so the network between client and server is the same
# every time the lab is built.
resource "aws_placement_group" "lab" {
  name     = "${local.prefix}-cluster"
  strategy = "cluster"

  tags = { Name = "${local.prefix}-cluster", Lab = var.lab_name }
}

resource "aws_key_pair" "lab" {
  key_name   = "${local.prefix}-key"
  public_key = trimspace(file(var.ssh_public_key))

  tags = { Name = "${local.prefix}-key", Lab = var.lab_name }
}

resource "aws_instance" "host" {
  for_each = local.hosts

  ami                         = data.aws_ami.host.id
  instance_type               = var.instance_type
  subnet_id                   = aws_subnet.lab.id
  placement_group             = aws_placement_group.lab.name
  vpc_security_group_ids      = [aws_security_group.lab.id]
  key_name                    = aws_key_pair.lab.key_name
  associate_public_ip_address = true

  metadata_options {
    http_tokens = "required"
  }

  root_block_device {
    volume_type = "gp3"
    volume_size = var.root_volume_size
    encrypted   = true
    tags        = { Name = "${local.prefix}-${each.key}", Lab = var.lab_name }
  }

  tags = { Name = "${local.prefix}-${each.key}", Lab = var.lab_name, Role = each.value.role }

  # Bare-metal instances take many minutes to boot (and to stop).
  timeouts {
    create = "40m"
    delete = "40m"
  }

  depends_on = [aws_route_table_association.lab]
}

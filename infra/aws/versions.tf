# One provider, pinned exactly so every controller builds the lab with the same
# code. Unlike infra/local and infra/static, `terraform init` here needs network
# access to registry.terraform.io (it downloads hashicorp/aws), and `apply`
# needs AWS credentials. Validations that name other variables need
# Terraform >= 1.9.
terraform {
  required_version = ">= 1.9"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "= 5.82.2"
    }
  }
}

provider "aws" {
  region = var.region

  # Every resource the provider creates carries the lab's name, so a lab's
  # resources can be found (and billed) together.
  default_tags {
    tags = {
      Lab       = var.lab_name
      ManagedBy = "djlab/infra/aws"
    }
  }
}

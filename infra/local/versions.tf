# No providers: every resource is the built-in `terraform_data` (Terraform >= 1.4),
# so `terraform init` needs no download and the lab builds offline.
terraform {
  required_version = ">= 1.5"
}

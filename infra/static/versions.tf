# No providers: the module only validates the host list and records it with the
# built-in `terraform_data`, so `terraform init` downloads nothing. Validations
# that name other variables need Terraform >= 1.9.
terraform {
  required_version = ">= 1.9"
}

"""Runtime side of the infrastructure: synthesizing stacks to Terraform JSON and running Terraform."""

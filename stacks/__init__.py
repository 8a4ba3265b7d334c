"""cdktn stacks: the org folders, the control plane, and one stack per client environment."""

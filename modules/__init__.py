"""Reusable cdktn constructs, one per resource family (after cloud-foundation-fabric).

Each takes one frozen, keyword-only props dataclass, validates it, owns its IAM bindings and
never configures providers, backends or reads the environment. Construct ids and resource
names are derived from the naming helper: renaming one replaces a real resource.
"""

"""CrossGuard pack for the estate: `pulumi preview -s <stack> --policy-pack policies`."""
from pulumi_policy import EnforcementLevel, PolicyPack

from infra.policy_pack import policies

PolicyPack(name="estate", enforcement_level=EnforcementLevel.MANDATORY, policies=policies())

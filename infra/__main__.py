"""The Pulumi program (`pulumi up -s dev|staging|prod`): the whole estate from the stack's config."""
import pulumi

from infra.config import from_pulumi
from infra.composition import Estate

estate = Estate("estate", from_pulumi())
pulumi.export("environment", estate.environment)
pulumi.export("namespace", estate.environment["namespace"])

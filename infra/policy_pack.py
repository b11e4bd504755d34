"""The policy rules (infra.policy_rules) as CrossGuard policies. `policies/__main__.py` serves them as a
pack; tests call each policy's `validate` directly (constructing a PolicyPack starts a server)."""
from __future__ import annotations

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from infra.policy_rules import RULES, Resource, Rule, to_plain


def _resource(r) -> Resource:
    deps = getattr(r, "property_dependencies", None) or {}
    return Resource(r.resource_type, r.name, to_plain(r.props),
                    {k: [d.resource_type for d in v] for k, v in deps.items()})


def _resource_policy(rule: Rule) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        for message in rule.check(_resource(args)):
            report(message, None)

    return ResourceValidationPolicy(name=rule.name, description=rule.description, validate=validate,
                                    enforcement_level=EnforcementLevel.MANDATORY)


def _stack_policy(rule: Rule) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        for message in rule.check([_resource(r) for r in args.resources]):
            report(message, None)

    return StackValidationPolicy(name=rule.name, description=rule.description, validate=validate,
                                 enforcement_level=EnforcementLevel.MANDATORY)


def policies() -> list[ResourceValidationPolicy | StackValidationPolicy]:
    return [_stack_policy(r) if r.stack else _resource_policy(r) for r in RULES]

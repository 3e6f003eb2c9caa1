"""IAM as deployed: the canary runs in the sandbox with the credentials of a role whose policy comes from the
synthesized CDK template, with moto's IAM authorization switched on.

Switched on at the sandbox's composition root by ``SANDBOX_IAM_TEMPLATE`` (path of a synthesized template, e.g.
``cdk.out/WebordinaryCanary-sandbox-us-west-2.template.json``) and ``SANDBOX_IAM_FUNCTION`` (whose role: ``probe``,
``journey``, ``destructive`` or ``sweeper``; default ``probe``). Once the sandbox is seeded:

1. the sandbox's own access key (``testing``) becomes an IAM user with an allow-all policy, so seeding, faults and
   the platform simulators keep working when moto starts checking every request;
2. the function's role is created with its trust policy, every ``AWS::IAM::Policy`` attached to it in the template
   (intrinsics resolved for the template's account and region) and its managed policies, and assumed;
3. moto's authorization is switched on (``/moto-api/reset-auth``), and ``Sandbox.environment()`` hands the canary
   the assumed role's credentials, so a permission missing from the template answers AccessDenied.

moto evaluates far less than IAM does (``moto/iam/access_control.py``); what it does not evaluate is covered by
template-level tests in ``tests/infra/test_cdk_iam.py`` instead:

- **resources**: moto authorizes every service but S3 and SQS against resource ``*``, so a statement naming an
  ARN never matches there. The sandbox names the resources of DynamoDB calls (table, or ``table/<t>/index/<i>``),
  Step Functions calls (state machine or execution ARN), ECS calls (each cluster, service or task named; all
  must be allowed, as IAM requires) and CloudFormation calls (the stack) for moto; the moto copy of every other
  service's statements is widened to ``*`` (only their actions are enforced: ELB, EFS, CloudWatch, Secrets
  Manager, KMS, whose resource scoping the template tests pin);
- **conditions**: no context values are supplied for identity policies, so every condition passes
  (``dynamodb:LeadingKeys``, ``cloudwatch:namespace``, ``ecs:cluster``, ``kms:ViaService``, ``aws:SourceArn``);
- **resource policies** (SNS topic, KMS key, secret, bucket, queue policies), permission boundaries, SCPs, session
  policies and the ``iam:PassRole`` checks of other services are not evaluated at all;
- **action names**: moto names an action after the request's signing name and API operation, so CloudWatch calls
  are checked as ``monitoring:<Action>`` and S3's HeadObject/ListObjectsV2 as themselves; the moto copy adds those
  aliases beside ``cloudwatch:*``, ``s3:GetObject`` and ``s3:ListBucket`` (same resources);
- **signatures**: moto verifies bodyless EFS requests against the wrong payload; the sandbox corrects that check.
"""

from __future__ import annotations

import html
import json
import re
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.aws_protocol import FaultError, error_response, request_protocol

ENV_TEMPLATE = "SANDBOX_IAM_TEMPLATE"
ENV_FUNCTION = "SANDBOX_IAM_FUNCTION"
FUNCTION_KINDS = ("probe", "journey", "destructive", "sweeper")
ADMIN_USER = "sandbox-admin"
# Services whose requests moto authorizes against the resource they address: S3 and SQS by moto itself, DynamoDB,
# Step Functions, ECS and CloudFormation because the sandbox tells moto their resources (_address_resources);
# every other service is authorized against "*". (Not EFS: moto gives the sandbox's file system a new id at every
# boot, so a template synthesized from one boot could never name the next one's.)
RESOURCE_AWARE = frozenset({"s3", "sqs", "dynamodb", "states", "ecs", "cloudformation"})
# moto checks "<signing name>:<Operation>": botocore signs CloudWatch requests as "monitoring", and an S3 operation
# is checked under its own name where IAM has another (HeadObject needs s3:GetObject, ListObjectsV2 s3:ListBucket).
SIGNING_ALIASES = {"cloudwatch": "monitoring"}
OPERATION_ALIASES: dict[str, tuple[str, ...]] = {
    "s3:GetObject": ("s3:HeadObject",),
    "s3:ListBucket": ("s3:ListObjectsV2", "s3:ListObjects", "s3:HeadBucket"),
}
# Services whose bodyless requests moto verifies against the wrong payload (see _verify_bodyless_requests_as_signed).
BODYLESS_FIX = frozenset({"elasticfilesystem"})
_SUB = re.compile(r"\$\{([^}!][^}]*)\}")
ALLOW_ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


class IamTemplateError(ValueError):
    """The template cannot give the role's policy (missing file, no such function, an unsupported intrinsic)."""


@dataclass(frozen=True)
class RolePolicies:
    """One function's role as the template defines it, intrinsics resolved."""

    function_name: str
    role_name: str
    trust_policy: dict[str, Any]
    inline: dict[str, dict[str, Any]]  # policy name -> document
    managed: tuple[str, ...] = ()

    def statements(self) -> list[dict[str, Any]]:
        return [st for doc in self.inline.values() for st in _listed(doc.get("Statement"))]


@dataclass
class Resolver:
    """Resolves the CloudFormation intrinsics CDK emits in IAM policies, for one account and region.

    ``Ref``/``Fn::GetAtt`` of the template's own resources resolve for the few types a canary policy names (queue,
    function, topic, alarm, log group, role); anything else is an ``IamTemplateError`` naming it.
    """

    resources: Mapping[str, Any]
    account: str
    region: str
    partition: str = "aws"
    stack_name: str = "sandbox"
    _pseudo: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self._pseudo = {"AWS::AccountId": self.account, "AWS::Region": self.region, "AWS::Partition": self.partition,
                        "AWS::URLSuffix": "amazonaws.com", "AWS::StackName": self.stack_name, "AWS::NoValue": ""}

    def resolve(self, value: Any, where: str = "template") -> Any:
        if isinstance(value, list):
            return [self.resolve(v, where) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref":
                return self._ref(arg, where)
            if key == "Fn::GetAtt":
                logical, attribute = arg.split(".", 1) if isinstance(arg, str) else arg
                return self._get_att(logical, attribute, where)
            if key == "Fn::Join":
                delimiter, items = arg
                return delimiter.join(str(self.resolve(i, where)) for i in self.resolve(items, where))
            if key == "Fn::Sub":
                return self._sub(arg, where)
            if key.startswith("Fn::") or key == "Condition":
                raise IamTemplateError(f"{where}: intrinsic {key} is not supported by the sandbox's resolver "
                                       f"(supported: Ref, Fn::GetAtt, Fn::Join, Fn::Sub)")
        return {k: self.resolve(v, f"{where}.{k}") for k, v in value.items()}

    def _sub(self, arg: Any, where: str) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(self.resolve(variables[name], where))
            if name in self._pseudo or "." not in name:
                return str(self._ref(name, where))
            logical, attribute = name.split(".", 1)
            return str(self._get_att(logical, attribute, where))

        return _SUB.sub(one, text).replace("${!", "${")

    def _ref(self, name: str, where: str) -> str:
        if name in self._pseudo:
            return self._pseudo[name]
        resource = self._resource(name, where)
        kind, props = resource["Type"], resource.get("Properties", {})
        if kind == "AWS::SNS::Topic":
            return self._arn("sns", props.get("TopicName", name))
        if kind == "AWS::SQS::Queue":
            return f"https://sqs.{self.region}.amazonaws.com/{self.account}/{props.get('QueueName', name)}"
        named = {"AWS::Lambda::Function": "FunctionName", "AWS::IAM::Role": "RoleName",
                 "AWS::CloudWatch::Alarm": "AlarmName", "AWS::Logs::LogGroup": "LogGroupName"}
        if kind in named:
            return str(props.get(named[kind], name))
        raise IamTemplateError(f"{where}: Ref to {name} ({kind}) cannot be resolved offline")

    def _get_att(self, logical: str, attribute: str, where: str) -> str:
        resource = self._resource(logical, where)
        kind, props = resource["Type"], resource.get("Properties", {})
        if attribute == "Arn":
            if kind == "AWS::SQS::Queue":
                return self._arn("sqs", props.get("QueueName", logical))
            if kind == "AWS::Lambda::Function":
                return self._arn("lambda", f"function:{props.get('FunctionName', logical)}")
            if kind == "AWS::CloudWatch::Alarm":
                return self._arn("cloudwatch", f"alarm:{props.get('AlarmName', logical)}")
            if kind == "AWS::Logs::LogGroup":
                return self._arn("logs", f"log-group:{props.get('LogGroupName', logical)}:*")
            if kind == "AWS::IAM::Role":
                return f"arn:{self.partition}:iam::{self.account}:role/{props.get('RoleName', logical)}"
        if kind == "AWS::SQS::Queue" and attribute == "QueueName":
            return str(props.get("QueueName", logical))
        raise IamTemplateError(f"{where}: Fn::GetAtt {logical}.{attribute} ({kind}) cannot be resolved offline")

    def _resource(self, logical: str, where: str) -> Mapping[str, Any]:
        if logical not in self.resources:
            raise IamTemplateError(f"{where}: {logical!r} is neither a pseudo parameter nor a resource of the template")
        found: Mapping[str, Any] = self.resources[logical]
        return found

    def _arn(self, service: str, resource: str) -> str:
        return f"arn:{self.partition}:{service}:{self.region}:{self.account}:{resource}"


def load_template(path: str | Path) -> dict[str, Any]:
    file = Path(path)
    try:
        template = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise IamTemplateError(f"{ENV_TEMPLATE}: cannot read {file}: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise IamTemplateError(f"{ENV_TEMPLATE}: {file} is not JSON ({exc.msg}, line {exc.lineno}); "
                               "name a synthesized template, e.g. cdk.out/<stack>.template.json") from exc
    if not isinstance(template, dict) or not isinstance(template.get("Resources"), dict):
        raise IamTemplateError(f"{ENV_TEMPLATE}: {file} has no Resources: not a CloudFormation template")
    return template


def role_policies(template: Mapping[str, Any], kind: str, *, account: str, region: str) -> RolePolicies:
    """The role of the canary function of ``kind`` (its FunctionName ends in ``-<kind>``) and its policies."""
    if kind not in FUNCTION_KINDS:
        raise IamTemplateError(f"{ENV_FUNCTION}: {kind!r} is not one of {', '.join(FUNCTION_KINDS)}")
    resources: Mapping[str, Any] = template["Resources"]
    resolver = Resolver(resources, account, region)
    functions = {
        str(r["Properties"]["FunctionName"]): r["Properties"] for r in resources.values()
        if r.get("Type") == "AWS::Lambda::Function" and isinstance(r.get("Properties", {}).get("FunctionName"), str)
    }
    matching = sorted(n for n in functions if n.startswith("webordinary-canary-") and n.endswith(f"-{kind}"))
    if not matching:
        raise IamTemplateError(f"{ENV_FUNCTION}={kind}: the template has no function webordinary-canary-<environment>-"
                               f"{kind} (is the {kind} tier among the environment's tiers?)")
    if len(matching) > 1:
        raise IamTemplateError(f"{ENV_FUNCTION}={kind}: the template has {len(matching)} such functions "
                               f"({', '.join(matching)}); name the template of one environment's stack")
    function = matching[0]
    role_ref = functions[function].get("Role")
    if not (isinstance(role_ref, dict) and "Fn::GetAtt" in role_ref):
        raise IamTemplateError(f"{function}: its Role is not a role of the template ({role_ref!r})")
    role_id = role_ref["Fn::GetAtt"][0] if isinstance(role_ref["Fn::GetAtt"], list) \
        else role_ref["Fn::GetAtt"].split(".")[0]
    role = resources[role_id].get("Properties", {})
    inline: dict[str, dict[str, Any]] = {}
    for entry in role.get("Policies", []):
        inline[entry["PolicyName"]] = resolver.resolve(entry["PolicyDocument"], f"{role_id}.Policies")
    for logical, resource in sorted(resources.items()):
        if resource.get("Type") != "AWS::IAM::Policy":
            continue
        props = resource.get("Properties", {})
        if {"Ref": role_id} in props.get("Roles", []):
            inline[logical] = resolver.resolve(props["PolicyDocument"], logical)
    if not inline:
        raise IamTemplateError(f"{function}: no policy in the template is attached to its role {role_id}")
    managed = tuple(str(resolver.resolve(arn, f"{role_id}.ManagedPolicyArns"))
                    for arn in role.get("ManagedPolicyArns", []))
    trust = resolver.resolve(role.get("AssumeRolePolicyDocument", {}), f"{role_id}.AssumeRolePolicyDocument")
    return RolePolicies(function, f"{function}-role", trust, inline, managed)


def as_moto_evaluates(document: Mapping[str, Any]) -> dict[str, Any]:
    """The policy moto can enforce: resources widened where moto authorizes against ``*``, signing-name aliases.

    Conditions are kept (moto passes them all for identity policies); Deny statements are kept as they are.
    """
    statements = []
    for statement in _listed(document.get("Statement")):
        moto_statement = dict(statement)
        actions = _listed(statement.get("Action"))
        services = {a.split(":", 1)[0] for a in actions}
        if "Resource" in statement and not services <= RESOURCE_AWARE:
            moto_statement["Resource"] = "*"
        aliases = [f"{SIGNING_ALIASES[a.split(':', 1)[0]]}:{a.split(':', 1)[1]}"
                   for a in actions if a.split(":", 1)[0] in SIGNING_ALIASES]
        aliases += [alias for a in actions for alias in OPERATION_ALIASES.get(a, ())]
        if aliases:
            moto_statement["Action"] = [*actions, *aliases]
        statements.append(moto_statement)
    return {"Version": document.get("Version", "2012-10-17"), "Statement": statements}


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


class IamMode:
    """Runs the canary as one function's role of the template, with moto enforcing IAM (see module docstring)."""

    def __init__(self, template: str | Path, kind: str = "probe") -> None:
        self.template_path = Path(template)
        self.kind = kind
        self.template = load_template(self.template_path)
        # Fail at construction (a usage error), not mid-boot: the real resolution happens at enable().
        role_policies(self.template, kind, account="123456789012", region="us-west-2")
        self.role: RolePolicies | None = None
        self._credentials: dict[str, str] = {}
        self._moto_url: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> IamMode | None:
        path = environ.get(ENV_TEMPLATE, "").strip()
        if not path:
            return None
        return cls(path, environ.get(ENV_FUNCTION, "").strip() or "probe")

    def enable(self, control: Any, *, admin_key: str, admin_secret: str) -> None:
        """Create the admin and the role in moto (before enforcement), assume the role, switch enforcement on.

        ``control`` is the sandbox's AWS side (``client(service)`` straight to moto, ``direct_url``, ``resources``).
        """
        resources = control.resources
        self.role = role_policies(self.template, self.kind, account=resources.account_id, region=resources.region)
        iam = control.client("iam")
        self._make_admin(control, iam, admin_key, admin_secret)
        iam.create_role(RoleName=self.role.role_name, AssumeRolePolicyDocument=json.dumps(self.role.trust_policy),
                        Description=f"sandbox copy of {self.role.function_name}'s role ({self.template_path.name})")
        for name, document in self.role.inline.items():
            iam.put_role_policy(RoleName=self.role.role_name, PolicyName=name,
                                PolicyDocument=json.dumps(as_moto_evaluates(document)))
        for arn in self.role.managed:
            iam.attach_role_policy(RoleName=self.role.role_name, PolicyArn=arn)
        role_arn = f"arn:aws:iam::{resources.account_id}:role/{self.role.role_name}"
        assumed = control.client("sts").assume_role(RoleArn=role_arn, RoleSessionName=self.role.function_name[-64:])
        creds = assumed["Credentials"]
        self._credentials = {"AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
                             "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
                             "AWS_SESSION_TOKEN": creds["SessionToken"]}
        self._moto_url = control.direct_url
        _verify_bodyless_requests_as_signed()
        _address_resources()
        if access_denied_in_protocol not in control.proxy.reply_filters:
            control.proxy.reply_filters.append(access_denied_in_protocol)
        _reset_auth(control.direct_url, "0")

    def disable(self) -> None:
        """Enforcement off again (moto's setting is process-wide)."""
        if self._moto_url is not None:
            try:
                _reset_auth(self._moto_url, "inf")
            finally:
                self._moto_url = None

    def credentials(self) -> dict[str, str]:
        """The assumed role's credentials as the canary's environment (empty until enabled)."""
        return dict(self._credentials)

    @staticmethod
    def _make_admin(control: Any, iam: Any, key: str, secret: str) -> None:
        """The sandbox's own key becomes an allow-all user's key: moto then authenticates the sandbox's calls."""
        iam.create_user(UserName=ADMIN_USER)
        iam.put_user_policy(UserName=ADMIN_USER, PolicyName="SandboxAdministrator",
                            PolicyDocument=json.dumps(ALLOW_ALL))
        iam.create_access_key(UserName=ADMIN_USER)
        from moto.iam.models import iam_backends

        # moto cannot import a chosen key over its API; its IAM backend is per account and partition.
        user = iam_backends[control.resources.account_id]["aws"].get_user(ADMIN_USER)
        user.access_keys[0].access_key_id = key
        user.access_keys[0].secret_access_key = secret


def access_denied_in_protocol(request_headers: Any, service: str, status: int, headers: list[tuple[str, str]],
                              body: bytes) -> tuple[int, list[tuple[str, str]], bytes] | None:
    """moto answers every denial as query-protocol XML (403); AWS answers in the request's protocol (a JSON service
    with 400 and ``AccessDeniedException``), which is what botocore parses into the code the harness classifies."""
    if status != 403 or b"<Code>AccessDenied</Code>" not in body:
        return None
    found = re.search(rb"<Message>(.*?)</Message>", body, re.S)
    message = html.unescape(found.group(1).decode("utf-8", "replace")) if found else "Access Denied"
    protocol = request_protocol(request_headers, service)
    query_compatible = str(request_headers.get("x-amzn-query-mode", "")).lower() == "true"
    error = FaultError("access_denied", "AccessDeniedException", "AccessDenied", message, 400, 403)
    request_id = dict((k.lower(), v) for k, v in headers).get("x-amzn-requestid", "sandbox-iam")
    status, rendered, payload = error_response(error, protocol, query_compatible, request_id,
                                               str(request_headers.get("Content-Type", "")))
    return status, list(rendered.items()), payload


def _reset_auth(moto_url: str, count: str) -> None:
    """moto's server endpoint that sets INITIAL_NO_AUTH_ACTION_COUNT and restarts the count."""
    request = urllib.request.Request(f"{moto_url}/moto-api/reset-auth", method="POST", data=count.encode(),
                                     headers={"Content-Type": "text/plain"})  # a form body would be parsed away
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


def _verify_bodyless_requests_as_signed() -> None:
    """moto recomputes a bodyless EFS request's signature over its header dict instead of an empty payload, so
    every EFS GET fails with SignatureDoesNotMatch (moto 5.2); verify such requests as SigV4 signs them."""
    from moto.iam.access_control import IAMRequestBase

    if getattr(IAMRequestBase, "_sandbox_bodyless_fix", False):
        return
    original = IAMRequestBase._create_aws_request

    def create(self: Any) -> Any:
        if self._method in ("GET", "HEAD", "DELETE") and not self._body and self._service in BODYLESS_FIX:
            data, self._data = self._data, {}
            try:
                return original(self)
            finally:
                self._data = data
        return original(self)

    IAMRequestBase._create_aws_request = create  # type: ignore[method-assign]
    IAMRequestBase._sandbox_bodyless_fix = True  # type: ignore[attr-defined]


def _dynamodb_resource(self: Any) -> str:
    """The ARN IAM authorizes a DynamoDB call against: the table, or its index when the call names one."""
    body = self.body if isinstance(self.body, dict) else {}
    table = body.get("TableName")
    if not isinstance(table, str) or not table:
        return "*"  # ListTables and the batch calls (the canary makes none) name no single table
    arn = table if table.startswith("arn:") else \
        f"arn:aws:dynamodb:{self.region}:{self.current_account}:table/{table}"
    index = body.get("IndexName")
    return f"{arn}/index/{index}" if isinstance(index, str) and index else arn


def _states_resource(self: Any) -> str:
    """The ARN IAM authorizes a Step Functions call against: the state machine or the execution it names."""
    for key in ("executionArn", "stateMachineArn"):
        value = self._get_param(key)
        if isinstance(value, str) and value:
            return value
    return "*"


def _ecs_resources(self: Any) -> str | list[str]:
    """The ARNs IAM authorizes an ECS call against: every cluster, service or task it names (by name or ARN)."""
    action = self._get_action()
    prefix = f"arn:aws:ecs:{self.region}:{self.current_account}"
    cluster = str(self._get_param("cluster") or "default").rsplit("/", 1)[-1]

    def arns(kind: str, names: Any, parent: str = "") -> list[str]:
        listed = names if isinstance(names, list) else [names]
        return [str(n) if str(n).startswith("arn:") else f"{prefix}:{kind}/{parent}{n}" for n in listed if n]

    if action == "DescribeClusters":
        return arns("cluster", self._get_param("clusters") or ["default"]) or "*"
    if action in ("DescribeServices", "UpdateService"):
        return arns("service", self._get_param("services") or self._get_param("service"), f"{cluster}/") or "*"
    if action in ("DescribeTasks", "StopTask"):
        return arns("task", self._get_param("tasks") or self._get_param("task"), f"{cluster}/") or "*"
    return "*"  # ListServices, ListTasks...: no resource-level permissions (the ecs:cluster condition scopes them)


def _cloudformation_resource(self: Any) -> str:
    """The stack a CloudFormation call names, as its ARN with the stack id (``stack/<name>/<id>``)."""
    name = self._get_param("StackName")
    if not isinstance(name, str) or not name:
        return "*"
    if name.startswith("arn:"):
        return name
    from moto.cloudformation.models import cloudformation_backends

    stacks = cloudformation_backends[self.current_account][self.region].stacks.values()
    found = [stack.stack_id for stack in stacks if stack.name == name]
    # An unknown stack keeps its name with any id, so an allowed caller gets CloudFormation's own "does not exist".
    return found[0] if found else f"arn:aws:cloudformation:{self.region}:{self.current_account}:stack/{name}/*"


def _address_resources() -> None:
    """moto calls a handler's ``_determine_resource`` (if it has one) for the resource it authorizes against; a
    call naming several resources (DescribeServices of two services) must be allowed on each, as IAM requires."""
    from moto.cloudformation.responses import CloudFormationResponse
    from moto.dynamodb.responses import DynamoHandler
    from moto.ecs.responses import EC2ContainerServiceResponse
    from moto.iam.access_control import IAMRequestBase
    from moto.stepfunctions.responses import StepFunctionResponse

    DynamoHandler._determine_resource = _dynamodb_resource  # type: ignore[attr-defined]
    StepFunctionResponse._determine_resource = _states_resource  # type: ignore[attr-defined]
    EC2ContainerServiceResponse._determine_resource = _ecs_resources  # type: ignore[attr-defined]
    CloudFormationResponse._determine_resource = _cloudformation_resource  # type: ignore[attr-defined]
    if getattr(IAMRequestBase, "_sandbox_each_resource", False):
        return
    original = IAMRequestBase.check_action_permitted

    def check_each(self: Any, resource: Any) -> None:
        for one in resource if isinstance(resource, list) else [resource]:
            original(self, one)

    IAMRequestBase.check_action_permitted = check_each  # type: ignore[method-assign]
    IAMRequestBase._sandbox_each_resource = True  # type: ignore[attr-defined]

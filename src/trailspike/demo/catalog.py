"""The AWS API calls, user agents and error wordings the demo world is made of.

Each :class:`Call` knows its CloudTrail ``eventSource``/``eventName``, whether it is read-only,
a ``requestParameters`` template and the resource ARN an access-denied message names. Error
messages follow AWS's own wording (checked against the real records in
``shared/data/cloudtrail_samples``): IAM-style denials embed the caller's ARN, the action and the
resource, EC2 says "You are not authorized to perform this operation." and adds an encoded
authorization message for mutating calls, S3 says only "Access Denied".

Implementation decisions: templates use :class:`string.Template` (``$bucket``) because JSON is
full of braces; every value substituted comes from the fixed resource names in
:mod:`trailspike.demo.world`, so templates stay valid JSON without escaping.
"""

from __future__ import annotations

# ruff: noqa: E501  (a data table: long JSON templates read best unbroken)
from dataclasses import dataclass
from string import Template

# Services whose API is global: CloudTrail logs them in us-east-1.
GLOBAL_SERVICES = frozenset({"iam", "sts", "organizations", "ce", "cloudfront"})

# eventSource host when it is not "<prefix>.amazonaws.com".
_HOSTS = {"cloudwatch": "monitoring.amazonaws.com", "ecr": "ecr.amazonaws.com"}

# IAM action name when it differs from "<prefix>:<eventName>".
_IAM_ACTIONS = {"s3:ListObjects": "s3:ListBucket", "s3:GetBucketAcl": "s3:GetBucketAcl"}

# Error code an access denial carries, per service (the rest use AccessDeniedException).
_DENIED_CODES = {
    "iam": "AccessDenied",
    "sts": "AccessDenied",
    "s3": "AccessDenied",
    "rds": "AccessDenied",
    "cloudformation": "AccessDenied",
    "autoscaling": "AccessDenied",
    "elasticloadbalancing": "AccessDenied",
    "cloudwatch": "AccessDenied",
    "sqs": "AccessDenied",
    "ec2": "Client.UnauthorizedOperation",
    "sns": "AuthorizationError",
}


@dataclass(frozen=True)
class Call:
    """One API method as CloudTrail records it."""

    prefix: str
    name: str
    read_only: bool
    params: str
    resource: str

    @property
    def key(self) -> str:
        """``prefix:Name``, the form IAM policies and this catalog use."""
        return f"{self.prefix}:{self.name}"

    @property
    def source(self) -> str:
        """The ``eventSource`` host."""
        return _HOSTS.get(self.prefix, f"{self.prefix}.amazonaws.com")

    @property
    def action(self) -> str:
        """The IAM action an authorization failure names."""
        return _IAM_ACTIONS.get(self.key, self.key)

    @property
    def is_global(self) -> bool:
        """Whether CloudTrail records the call in us-east-1 whatever the client's region."""
        return self.prefix in GLOBAL_SERVICES

    def render_params(self, values: dict[str, str]) -> str:
        """The ``requestParameters`` JSON text for these resource names."""
        return Template(self.params).substitute(values)

    def render_resource(self, values: dict[str, str]) -> str:
        """The resource ARN a denial of this call names."""
        return Template(self.resource).substitute(values)


def _c(key: str, read_only: bool, params: str = "null", resource: str = "*") -> Call:
    prefix, name = key.split(":")
    return Call(prefix, name, read_only, params, resource)


_ROLE_ARN = "arn:aws:iam::$acct:role/$role"
_USER_ARN = "arn:aws:iam::$acct:user/$user"
_FN_ARN = "arn:aws:lambda:$region:$acct:function:$fn"
_SECRET_ARN = "arn:aws:secretsmanager:$region:$acct:secret:$secret"
_PARAM_ARN = "arn:aws:ssm:$region:$acct:parameter$param"
_KEY_ARN = "arn:aws:kms:$region:$acct:key/$key"
_TABLE_ARN = "arn:aws:dynamodb:$region:$acct:table/$table"
_INSTANCE_ARN = "arn:aws:ec2:$region:$acct:instance/*"
_SM_ARN = "arn:aws:states:$region:$acct:stateMachine:$sm"

CALLS: dict[str, Call] = {
    c.key: c
    for c in (
        # IAM and STS (global)
        _c("iam:ListUsers", True, "{}", _USER_ARN.replace("$user", "")),
        _c("iam:ListRoles", True, "{}", _ROLE_ARN.replace("$role", "")),
        _c("iam:ListPolicies", True, '{"scope":"Local","onlyAttached":false}', "*"),
        _c("iam:GetRole", True, '{"roleName":"$role"}', _ROLE_ARN),
        _c("iam:GetUser", True, '{"userName":"$user"}', _USER_ARN),
        _c("iam:ListAttachedRolePolicies", True, '{"roleName":"$role"}', _ROLE_ARN),
        _c("iam:ListAccessKeys", True, '{"userName":"$user"}', _USER_ARN),
        _c("iam:GetAccessKeyLastUsed", True, '{"accessKeyId":"$akid"}', _USER_ARN),
        _c("iam:GetLoginProfile", True, '{"userName":"$user"}', _USER_ARN),
        _c("iam:GenerateCredentialReport", True, "null", "*"),
        _c("iam:GetCredentialReport", True, "null", "*"),
        _c("iam:GetAccountAuthorizationDetails", True, '{"filter":["User","Role","Group"]}', "*"),
        _c("iam:ListGroupsForUser", True, '{"userName":"$user"}', _USER_ARN),
        _c(
            "iam:CreatePolicyVersion",
            False,
            '{"policyArn":"arn:aws:iam::$acct:policy/$policy","policyDocument":"{\\"Version\\":\\"2012-10-17\\",\\"Statement\\":[{\\"Effect\\":\\"Allow\\",\\"Action\\":\\"*\\",\\"Resource\\":\\"*\\"}]}","setAsDefault":true}',
            "arn:aws:iam::$acct:policy/$policy",
        ),
        _c(
            "iam:AttachUserPolicy",
            False,
            '{"userName":"$user","policyArn":"arn:aws:iam::aws:policy/AdministratorAccess"}',
            _USER_ARN,
        ),
        _c(
            "iam:AttachRolePolicy",
            False,
            '{"roleName":"$role","policyArn":"arn:aws:iam::aws:policy/AdministratorAccess"}',
            _ROLE_ARN,
        ),
        _c(
            "iam:PutRolePolicy",
            False,
            '{"roleName":"$role","policyName":"inline-admin","policyDocument":"{\\"Statement\\":[{\\"Effect\\":\\"Allow\\",\\"Action\\":\\"*\\",\\"Resource\\":\\"*\\"}]}"}',
            _ROLE_ARN,
        ),
        _c("iam:CreateAccessKey", False, '{"userName":"$user"}', _USER_ARN),
        _c(
            "iam:UpdateAssumeRolePolicy",
            False,
            '{"roleName":"$role","policyDocument":"{}"}',
            _ROLE_ARN,
        ),
        _c(
            "iam:CreateLoginProfile",
            False,
            '{"userName":"$user","passwordResetRequired":false}',
            _USER_ARN,
        ),
        _c("iam:PassRole", False, '{"roleName":"$role"}', _ROLE_ARN),
        _c("sts:GetCallerIdentity", True, "null", "*"),
        _c(
            "sts:AssumeRole",
            False,
            '{"roleArn":"arn:aws:iam::$acct:role/$role","roleSessionName":"$session","durationSeconds":3600}',
            _ROLE_ARN,
        ),
        _c("sts:GetSessionToken", True, '{"durationSeconds":43200}', "*"),
        _c("organizations:DescribeOrganization", True, "null", "*"),
        _c("organizations:ListAccounts", True, "{}", "*"),
        _c(
            "ce:GetCostAndUsage",
            True,
            '{"timePeriod":{"start":"2026-11-01","end":"2026-12-01"},"granularity":"DAILY","metrics":["UnblendedCost"]}',
            "*",
        ),
        # S3 (management events)
        _c("s3:ListBuckets", True, '{"Host":"s3.amazonaws.com"}', "*"),
        _c(
            "s3:GetBucketPolicy",
            True,
            '{"bucketName":"$bucket","Host":"$bucket.s3.$region.amazonaws.com","policy":""}',
            "arn:aws:s3:::$bucket",
        ),
        _c(
            "s3:GetBucketAcl",
            True,
            '{"bucketName":"$bucket","Host":"$bucket.s3.$region.amazonaws.com","acl":""}',
            "arn:aws:s3:::$bucket",
        ),
        _c(
            "s3:GetBucketLifecycle",
            True,
            '{"bucketName":"$bucket","Host":"$bucket.s3.$region.amazonaws.com","lifecycle":""}',
            "arn:aws:s3:::$bucket",
        ),
        _c(
            "s3:GetBucketEncryption",
            True,
            '{"bucketName":"$bucket","Host":"$bucket.s3.$region.amazonaws.com","encryption":""}',
            "arn:aws:s3:::$bucket",
        ),
        _c(
            "s3:GetBucketTagging",
            True,
            '{"bucketName":"$bucket","Host":"$bucket.s3.$region.amazonaws.com","tagging":""}',
            "arn:aws:s3:::$bucket",
        ),
        _c(
            "s3:GetBucketLocation",
            True,
            '{"bucketName":"$bucket","Host":"$bucket.s3.amazonaws.com","location":""}',
            "arn:aws:s3:::$bucket",
        ),
        _c(
            "s3:PutBucketPolicy",
            False,
            '{"bucketName":"$bucket","Host":"$bucket.s3.$region.amazonaws.com","policy":""}',
            "arn:aws:s3:::$bucket",
        ),
        # EC2, autoscaling, load balancing
        _c("ec2:DescribeInstances", True, '{"instancesSet":{},"filterSet":{}}', _INSTANCE_ARN),
        _c(
            "ec2:DescribeSecurityGroups",
            True,
            '{"securityGroupSet":{},"securityGroupIdSet":{},"filterSet":{}}',
            "*",
        ),
        _c("ec2:DescribeVpcs", True, '{"vpcSet":{},"filterSet":{}}', "*"),
        _c(
            "ec2:DescribeImages",
            True,
            '{"executableBySet":{},"imagesSet":{},"ownersSet":{"items":[{"owner":"self"}]},"filterSet":{}}',
            "*",
        ),
        _c(
            "ec2:DescribeSnapshots",
            True,
            '{"snapshotSet":{},"ownersSet":{"items":[{"owner":"self"}]},"filterSet":{}}',
            "*",
        ),
        _c("ec2:DescribeVolumes", True, '{"volumeSet":{},"filterSet":{}}', "*"),
        _c("ec2:DescribeRegions", True, '{"regionSet":{},"filterSet":{}}', "*"),
        _c(
            "ec2:DeregisterImage",
            False,
            '{"imageId":"$image"}',
            "arn:aws:ec2:$region::image/$image",
        ),
        _c(
            "ec2:DeleteSnapshot",
            False,
            '{"snapshotId":"$snapshot"}',
            "arn:aws:ec2:$region::snapshot/$snapshot",
        ),
        _c(
            "ec2:RunInstances",
            False,
            '{"instancesSet":{"items":[{"imageId":"$image","minCount":1,"maxCount":1}]},"instanceType":"t3.large","iamInstanceProfile":{"name":"$role"}}',
            _INSTANCE_ARN,
        ),
        _c(
            "ec2:StartInstances",
            False,
            '{"instancesSet":{"items":[{"instanceId":"$instance"}]}}',
            "arn:aws:ec2:$region:$acct:instance/$instance",
        ),
        _c(
            "ec2:StopInstances",
            False,
            '{"instancesSet":{"items":[{"instanceId":"$instance"}]},"force":false}',
            "arn:aws:ec2:$region:$acct:instance/$instance",
        ),
        _c(
            "ec2:CreateKeyPair",
            False,
            '{"keyName":"$user-key","keyType":"ed25519"}',
            "arn:aws:ec2:$region:$acct:key-pair/*",
        ),
        _c("autoscaling:DescribeAutoScalingGroups", True, "{}", "*"),
        _c("elasticloadbalancing:DescribeLoadBalancers", True, "{}", "*"),
        _c(
            "elasticloadbalancing:DescribeTargetHealth",
            True,
            '{"targetGroupArn":"arn:aws:elasticloadbalancing:$region:$acct:targetgroup/$cluster-tg/6d0ecf831eec9f09"}',
            "*",
        ),
        # Containers and CI/CD
        _c(
            "ecs:DescribeServices",
            True,
            '{"cluster":"$cluster","services":["$cluster-svc"]}',
            "arn:aws:ecs:$region:$acct:service/$cluster/$cluster-svc",
        ),
        _c(
            "ecs:ListTasks",
            True,
            '{"cluster":"$cluster"}',
            "arn:aws:ecs:$region:$acct:container-instance/$cluster/*",
        ),
        _c(
            "ecs:UpdateService",
            False,
            '{"cluster":"$cluster","service":"$cluster-svc","forceNewDeployment":false}',
            "arn:aws:ecs:$region:$acct:service/$cluster/$cluster-svc",
        ),
        _c(
            "ecs:RegisterTaskDefinition",
            False,
            '{"family":"$cluster","networkMode":"awsvpc","requiresCompatibilities":["FARGATE"]}',
            "*",
        ),
        _c("ecr:GetAuthorizationToken", True, "{}", "*"),
        _c(
            "ecr:DescribeImages",
            True,
            '{"repositoryName":"$cluster"}',
            "arn:aws:ecr:$region:$acct:repository/$cluster",
        ),
        _c(
            "cloudformation:DescribeStacks",
            True,
            '{"stackName":"$stack"}',
            "arn:aws:cloudformation:$region:$acct:stack/$stack/*",
        ),
        _c(
            "cloudformation:DescribeStackEvents",
            True,
            '{"stackName":"$stack"}',
            "arn:aws:cloudformation:$region:$acct:stack/$stack/*",
        ),
        _c(
            "cloudformation:UpdateStack",
            False,
            '{"stackName":"$stack","capabilities":["CAPABILITY_IAM"]}',
            "arn:aws:cloudformation:$region:$acct:stack/$stack/*",
        ),
        _c(
            "cloudformation:ListStacks",
            True,
            '{"stackStatusFilter":["CREATE_COMPLETE","UPDATE_COMPLETE"]}',
            "*",
        ),
        _c(
            "codebuild:BatchGetBuilds",
            True,
            '{"ids":["$cluster-build:6f1d3c2a"]}',
            "arn:aws:codebuild:$region:$acct:project/$cluster-build",
        ),
        _c("lambda:ListFunctions", True, '{"maxItems":50}', "*"),
        _c("lambda:GetFunction", True, '{"functionName":"$fn"}', _FN_ARN),
        _c(
            "lambda:UpdateFunctionCode",
            False,
            '{"functionName":"$fn","s3Bucket":"$bucket","s3Key":"builds/$fn.zip","publish":true}',
            _FN_ARN,
        ),
        _c(
            "lambda:CreateFunction",
            False,
            '{"functionName":"$fn-x","role":"arn:aws:iam::$acct:role/$role","runtime":"python3.12","handler":"index.handler"}',
            _FN_ARN,
        ),
        _c("apigateway:GetRestApis", True, '{"limit":25}', "arn:aws:apigateway:$region::/restapis"),
        # Data and secrets
        _c("dynamodb:ListTables", True, "{}", "arn:aws:dynamodb:$region:$acct:table/*"),
        _c("dynamodb:DescribeTable", True, '{"tableName":"$table"}', _TABLE_ARN),
        _c("rds:DescribeDBInstances", True, "{}", "arn:aws:rds:$region:$acct:db:*"),
        _c(
            "rds:DescribeDBSnapshots",
            True,
            '{"dBInstanceIdentifier":"$db"}',
            "arn:aws:rds:$region:$acct:db:$db",
        ),
        _c("secretsmanager:ListSecrets", True, "{}", "*"),
        _c("secretsmanager:GetSecretValue", True, '{"secretId":"$secret"}', _SECRET_ARN),
        _c("secretsmanager:DescribeSecret", True, '{"secretId":"$secret"}', _SECRET_ARN),
        _c("ssm:DescribeParameters", True, '{"maxResults":50}', "arn:aws:ssm:$region:$acct:*"),
        _c("ssm:GetParameter", True, '{"name":"$param","withDecryption":true}', _PARAM_ARN),
        _c("ssm:GetParameters", True, '{"names":["$param"],"withDecryption":true}', _PARAM_ARN),
        _c(
            "ssm:UpdateInstanceInformation",
            False,
            '{"instanceId":"$instance","agentVersion":"3.3.1142.0","agentStatus":"Active","platformType":"Linux","platformName":"Amazon Linux","platformVersion":"2023","iPAddress":"10.0.12.34","computerName":"ip-10-0-12-34.ec2.internal","agentName":"amazon-ssm-agent","availabilityZone":"$region-1a","availabilityZoneId":"use1-az2"}',
            "arn:aws:ec2:$region:$acct:instance/$instance",
        ),
        _c(
            "kms:Decrypt",
            True,
            '{"encryptionAlgorithm":"SYMMETRIC_DEFAULT","keyId":"arn:aws:kms:$region:$acct:key/$key","encryptionContext":{"SecretARN":"arn:aws:secretsmanager:$region:$acct:secret:$secret"}}',
            _KEY_ARN,
        ),
        _c("kms:ListKeys", True, '{"limit":100}', "*"),
        _c("kms:DescribeKey", True, '{"keyId":"$key"}', _KEY_ARN),
        _c(
            "glue:GetTable",
            True,
            '{"databaseName":"analytics","name":"$table"}',
            "arn:aws:glue:$region:$acct:table/analytics/$table",
        ),
        _c("glue:GetDatabases", True, "{}", "arn:aws:glue:$region:$acct:catalog"),
        _c(
            "athena:StartQueryExecution",
            False,
            '{"queryString":"SELECT * FROM analytics.$table LIMIT 100","workGroup":"primary"}',
            "arn:aws:athena:$region:$acct:workgroup/primary",
        ),
        _c(
            "athena:GetQueryResults",
            True,
            '{"queryExecutionId":"4b7c1d2e-9f3a-4c5b-8d6e-1a2b3c4d5e6f"}',
            "arn:aws:athena:$region:$acct:workgroup/primary",
        ),
        # Monitoring, logging, security
        _c(
            "cloudwatch:GetMetricData",
            True,
            '{"metricDataQueries":[{"id":"m1","metricStat":{"metric":{"namespace":"AWS/EC2","metricName":"CPUUtilization"},"period":300,"stat":"Average"}}],"scanBy":"TimestampDescending"}',
            "*",
        ),
        _c("cloudwatch:DescribeAlarms", True, "{}", "*"),
        _c("cloudwatch:ListMetrics", True, '{"namespace":"AWS/EC2"}', "*"),
        _c(
            "logs:DescribeLogGroups",
            True,
            "{}",
            "arn:aws:logs:$region:$acct:log-group::log-stream:",
        ),
        _c(
            "logs:FilterLogEvents",
            True,
            '{"logGroupName":"/aws/lambda/$fn","limit":100}',
            "arn:aws:logs:$region:$acct:log-group:/aws/lambda/$fn:*",
        ),
        _c(
            "logs:PutRetentionPolicy",
            False,
            '{"logGroupName":"/aws/lambda/$fn","retentionInDays":30}',
            "arn:aws:logs:$region:$acct:log-group:/aws/lambda/$fn:*",
        ),
        _c("cloudtrail:DescribeTrails", True, '{"includeShadowTrails":true}', "*"),
        _c("cloudtrail:LookupEvents", True, '{"maxResults":50}', "*"),
        _c("guardduty:ListDetectors", True, "{}", "arn:aws:guardduty:$region:$acct:detector/*"),
        _c(
            "guardduty:ListFindings",
            True,
            '{"detectorId":"5ac4b1a3e2d3f0c7b9e8a6d4c2b1a0f9"}',
            "arn:aws:guardduty:$region:$acct:detector/*",
        ),
        _c(
            "securityhub:GetFindings",
            True,
            '{"maxResults":100}',
            "arn:aws:securityhub:$region:$acct:hub/default",
        ),
        _c("config:DescribeConfigRules", True, "{}", "*"),
        _c("sns:ListTopics", True, "{}", "arn:aws:sns:$region:$acct:*"),
        _c("sqs:ListQueues", True, "{}", "arn:aws:sqs:$region:$acct:*"),
        _c(
            "backup:StartBackupJob",
            False,
            '{"backupVaultName":"default","resourceArn":"arn:aws:dynamodb:$region:$acct:table/$table","iamRoleArn":"arn:aws:iam::$acct:role/service-role/AWSBackupDefaultServiceRole"}',
            "*",
        ),
        _c("states:ListStateMachines", True, "{}", "arn:aws:states:$region:$acct:stateMachine:*"),
        _c(
            "states:DescribeStateMachine",
            True,
            '{"stateMachineArn":"arn:aws:states:$region:$acct:stateMachine:$sm"}',
            _SM_ARN,
        ),
        _c(
            "states:CreateStateMachine",
            False,
            '{"name":"$sm","roleArn":"arn:aws:iam::$acct:role/$sm-exec","type":"STANDARD"}',
            _SM_ARN,
        ),
        _c(
            "states:StartExecution",
            False,
            '{"stateMachineArn":"arn:aws:states:$region:$acct:stateMachine:$sm","name":"run-001"}',
            _SM_ARN,
        ),
        _c(
            "states:ListExecutions",
            True,
            '{"stateMachineArn":"arn:aws:states:$region:$acct:stateMachine:$sm"}',
            _SM_ARN,
        ),
        _c("signin:ConsoleLogin", False, "null", "*"),
    )
}


def denied(call: Call, arn: str, resource: str, token: str = "") -> tuple[str, str]:
    """Error code and message AWS returns when ``arn`` may not call ``call`` on ``resource``.

    ``token`` is the encoded authorization message EC2 appends for mutating calls.

    >>> code, msg = denied(CALLS["iam:ListRoles"], "arn:aws:iam::111122223333:user/bob",
    ...                    "arn:aws:iam::111122223333:role/")
    >>> code
    'AccessDenied'
    >>> msg  # doctest: +ELLIPSIS
    'User: arn:aws:iam::111122223333:user/bob is not authorized to perform: iam:ListRoles on ...'
    >>> denied(CALLS["s3:GetBucketPolicy"], "arn:x", "arn:aws:s3:::b")
    ('AccessDenied', 'Access Denied')
    """
    code = _DENIED_CODES.get(call.prefix, "AccessDeniedException")
    if call.prefix == "s3":
        return code, "Access Denied"
    action = call.action
    if call.prefix == "sns":
        action = "SNS:" + call.name
    body = (
        f"User: {arn} is not authorized to perform: {action} on resource: {resource} "
        f"because no identity-based policy allows the {action} action"
    )
    if call.prefix == "ec2":
        body = "You are not authorized to perform this operation. " + body
        if not call.read_only and token:
            body += ". Encoded authorization failure message: " + token
    return code, body


# Errors that are not authorization failures, in AWS's wording: (code, message template).
OTHER_ERRORS: dict[str, tuple[str, str]] = {
    "no_such_user": ("NoSuchEntity", "The user with name $user cannot be found."),
    "no_such_role": ("NoSuchEntity", "The role with name $role cannot be found."),
    "no_login_profile": ("NoSuchEntity", "Login Profile for User $user cannot be found."),
    "throttled": ("ThrottlingException", "Rate exceeded"),
    "ec2_throttled": ("Client.RequestLimitExceeded", "Request limit exceeded."),
    "expired": ("ExpiredToken", "The security token included in the request is expired"),
    "no_bucket_policy": ("NoSuchBucketPolicy", "The bucket policy does not exist"),
    "no_lifecycle": ("NoSuchLifecycleConfiguration", "The lifecycle configuration does not exist"),
    "no_encryption": (
        "ServerSideEncryptionConfigurationNotFoundError",
        "The server side encryption configuration was not found",
    ),
    "no_tagset": ("NoSuchTagSet", "The TagSet does not exist"),
    "no_stack": ("ValidationError", "Stack with id $stack does not exist"),
    "no_function": ("ResourceNotFoundException", "Function not found: $fnarn"),
    "no_parameter": ("ParameterNotFound", "Parameter $param not found."),
    "report_in_progress": (
        "ReportInProgress",
        "Report generation in progress. Try again after a few seconds.",
    ),
    "no_instance": (
        "Client.InvalidInstanceID.NotFound",
        "The instance ID '$instance' does not exist",
    ),
    "passrole": (
        "AccessDeniedException",
        "User: $arn is not authorized to perform: iam:PassRole on resource: "
        "arn:aws:iam::$acct:role/$role because no identity-based policy allows the iam:PassRole "
        "action",
    ),
    "assume_denied": (
        "AccessDenied",
        "User: $arn is not authorized to perform: sts:AssumeRole on resource: "
        "arn:aws:iam::$acct:role/$role",
    ),
    "validation": (
        "ValidationException",
        "1 validation error detected: Value null at 'startTime' failed to satisfy constraint: "
        "Member must not be null",
    ),
}

# User agents, by kind of client (real formats; versions of late 2026).
USER_AGENTS: dict[str, str] = {
    "console": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like "
    "Gecko) Chrome/131.0.0.0 Safari/537.36",
    "console_win": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    "console_ff": "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "cli_mac": "aws-cli/2.22.4 md/awscrt#0.22.0 ua/2.0 os/macos#24.1.0 md/arch#arm64 "
    "lang/python#3.12.7 md/pyimpl#CPython cfg/retry-mode#standard md/installer#source "
    "md/prompt#off",
    "cli_linux": "aws-cli/2.22.4 md/awscrt#0.22.0 ua/2.0 os/linux#6.8.0-1019-aws md/arch#x86_64 "
    "lang/python#3.12.6 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe "
    "md/distrib#ubuntu.24 md/prompt#off",
    "boto3": "Boto3/1.35.76 md/Botocore#1.35.76 ua/2.0 os/linux#5.10.228-219.884.amzn2.x86_64 "
    "md/arch#x86_64 lang/python#3.12.7 md/pyimpl#CPython exec-env/AWS_Lambda_python3.12 "
    "cfg/retry-mode#legacy Botocore/1.35.76",
    "terraform": "APN/1.0 HashiCorp/1.0 Terraform/1.10.2 (+https://www.terraform.io) "
    "terraform-provider-aws/5.80.0 (+https://registry.terraform.io/providers/hashicorp/aws) "
    "aws-sdk-go-v2/1.32.6 ua/2.1 os/linux lang/go#1.23.3 md/GOOS#linux md/GOARCH#amd64 "
    "api/sts#1.33.2",
    "ci_cli": "aws-cli/2.22.2 md/awscrt#0.22.0 ua/2.0 os/linux#6.5.0-1025-azure md/arch#x86_64 "
    "lang/python#3.12.6 md/pyimpl#CPython exec-env/GitHubActions cfg/retry-mode#standard "
    "md/installer#exe md/distrib#ubuntu.22 md/prompt#off",
    "ssm_agent": "aws-sdk-go/1.55.5 (go1.22.7; linux; amd64) amazon-ssm-agent/3.3.1142.0",
    "java_sdk": "aws-sdk-java/2.29.29 Linux/5.10.228-219.884.amzn2.x86_64 OpenJDK_64-Bit_Server_VM"
    "/21.0.5+11-LTS Java/21.0.5 vendor/Amazon.com_Inc. md/internal exec-env/AWS_ECS_FARGATE "
    "io/sync http/Apache cfg/retry-mode/legacy",
    "go_sdk": "aws-sdk-go-v2/1.32.6 ua/2.1 os/linux lang/go#1.23.3 md/GOOS#linux md/GOARCH#amd64 "
    "api/kms#1.37.7",
    "attacker": "aws-cli/1.36.2 Python/3.12.8 Linux/6.11.2-amd64 botocore/1.35.80",
    "attacker_py": "Boto3/1.35.80 Python/3.12.8 Linux/6.11.2-amd64 Botocore/1.35.80",
    "aws_internal": "AWS Internal",
}

"""Elastic's ECS categorisation table for CloudTrail ``eventName`` values.

Copied from the "Add ECS categorization" script of Elastic's AWS CloudTrail ingest pipeline
(``default.yml``): about 60 IAM, S3, STS and sign-in APIs get an ``event.category`` and a more
specific ``event.type``; every other event keeps ``event.type = ["info"]`` and no category.
"""

from __future__ import annotations

# eventName -> (event.category, event.type)
CATEGORIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "AddUserToGroup": ("iam", ("group", "change")),
    "AssumeRole": ("authentication", ("info",)),
    "AttachGroupPolicy": ("iam", ("group", "change")),
    "AttachUserPolicy": ("iam", ("user", "change")),
    "ChangePassword": ("iam", ("user", "change")),
    "ConsoleLogin": ("authentication", ("info",)),
    "CreateAccessKey": ("iam", ("user", "change")),
    "CreateBucket": ("file", ("creation",)),
    "CreateGroup": ("iam", ("group", "creation")),
    "CreateKeyPair": ("iam", ("admin", "creation")),
    "CreateUser": ("iam", ("user", "creation")),
    "CreateVirtualMFADevice": ("iam", ("user", "change")),
    "DeactivateMFADevice": ("iam", ("user", "change")),
    "DeleteAccessKey": ("iam", ("user", "change")),
    "DeleteBucket": ("file", ("deletion",)),
    "DeleteGroup": ("iam", ("group", "deletion")),
    "DeleteGroupPolicy": ("iam", ("group", "change")),
    "DeleteSSHPublicKey": ("iam", ("user", "change")),
    "DeleteUser": ("iam", ("user", "deletion")),
    "DeleteUserPermissionsBoundary": ("iam", ("user", "change")),
    "DeleteUserPolicy": ("iam", ("user", "change")),
    "DeleteVirtualMFADevice": ("iam", ("user", "change")),
    "DetachGroupPolicy": ("iam", ("group", "change")),
    "DetachUserPolicy": ("iam", ("user", "change")),
    "EnableMFADevice": ("iam", ("user", "change")),
    "GetGroup": ("iam", ("group", "info")),
    "GetGroupPolicy": ("iam", ("group", "info")),
    "GetUser": ("iam", ("user", "info")),
    "GetUserPolicy": ("iam", ("user", "info")),
    "ListAttachedGroupPolicies": ("iam", ("group", "info")),
    "ListAttachedUserPolicies": ("iam", ("user", "info")),
    "ListGroupPolicies": ("iam", ("group", "info")),
    "ListGroups": ("iam", ("group", "info")),
    "ListGroupsForUser": ("iam", ("user", "info")),
    "ListUserPolicies": ("iam", ("user", "info")),
    "ListUsers": ("iam", ("user", "info")),
    "ListUserTags": ("iam", ("user", "info")),
    "PutGroupPolicy": ("iam", ("group", "change")),
    "PutUserPermissionsBoundary": ("iam", ("user", "change")),
    "PutUserPolicy": ("iam", ("user", "change")),
    "RemoveUserFromGroup": ("iam", ("group", "change")),
    "SetDefaultPolicyVersion": ("iam", ("admin", "change")),
    "SetSecurityTokenServicePreferences": ("iam", ("admin", "change")),
    "TagUser": ("iam", ("user", "change")),
    "UntagUser": ("iam", ("user", "change")),
    "UpdateAccessKey": ("iam", ("user", "change")),
    "UpdateAccountPasswordPolicy": ("iam", ("admin", "change")),
    "UpdateGroup": ("iam", ("group", "change")),
    "UpdateLoginProfile": ("iam", ("user", "change")),
    "UpdateRole": ("iam", ("admin", "change")),
    "UpdateSSHPublicKey": ("iam", ("user", "change")),
    "UpdateUser": ("iam", ("user", "change")),
}


def categorize(event_name: str | None) -> tuple[list[str] | None, list[str]]:
    """``(event.category, event.type)`` for an ``eventName``.

    >>> categorize("CreateUser")
    (['iam'], ['user', 'creation'])
    >>> categorize("DescribeInstances")
    (None, ['info'])
    """
    entry = CATEGORIES.get(event_name or "")
    if entry is None:
        return None, ["info"]
    return [entry[0]], list(entry[1])

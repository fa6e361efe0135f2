//! IAM's Query API (version 2010-05-08) on the broker's endpoint: the actions that explain
//! and simulate decisions, `SimulateCustomPolicy` and `SimulatePrincipalPolicy`
//! ([`simulate`]), the management of roles ([`roles`]), of customer-managed policies ([`policies`]) and of identity providers ([`providers`]), of users, groups and the account alias ([`users`]), of access keys ([`access_keys`]), of virtual MFA devices ([`mfa`]), of the password policy and login profiles ([`passwords`]), and the credential report ([`report`]). Requests reach it through [`crate::query::dispatch`] when `Version` is IAM's;
//! answers use IAM's XML namespace, with STS's envelope and error shape (both are AWS Query
//! APIs). Every action here is an admin action ([`crate::broker::admin`]): signed for `iam` by a caller
//! whose policies allow it.

pub mod access_keys;
pub mod mfa;
pub mod passwords;
pub mod policies;
pub mod providers;
pub mod report;
pub mod roles;
pub mod simulate;
pub mod users;

use serde::Serialize;

use crate::broker::Broker;
use crate::broker::{ApiError, RequestMeta};
use crate::query::{Params, xml};

/// IAM's API version.
pub const VERSION: &str = "2010-05-08";
/// IAM's XML namespace.
pub const NAMESPACE: &str = "https://iam.amazonaws.com/doc/2010-05-08/";

/// The IAM actions this broker serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    SimulateCustomPolicy,
    SimulatePrincipalPolicy,
    CreateRole,
    GetRole,
    ListRoles,
    UpdateRole,
    UpdateRoleDescription,
    UpdateAssumeRolePolicy,
    DeleteRole,
    PutRolePolicy,
    GetRolePolicy,
    ListRolePolicies,
    DeleteRolePolicy,
    TagRole,
    UntagRole,
    ListRoleTags,
    ListInstanceProfilesForRole,
    AttachRolePolicy,
    DetachRolePolicy,
    ListAttachedRolePolicies,
    PutRolePermissionsBoundary,
    DeleteRolePermissionsBoundary,
    CreatePolicy,
    GetPolicy,
    ListPolicies,
    DeletePolicy,
    CreatePolicyVersion,
    GetPolicyVersion,
    ListPolicyVersions,
    SetDefaultPolicyVersion,
    DeletePolicyVersion,
    ListEntitiesForPolicy,
    TagPolicy,
    UntagPolicy,
    ListPolicyTags,
    CreateOpenIDConnectProvider,
    GetOpenIDConnectProvider,
    ListOpenIDConnectProviders,
    AddClientIDToOpenIDConnectProvider,
    RemoveClientIDFromOpenIDConnectProvider,
    UpdateOpenIDConnectProviderThumbprint,
    DeleteOpenIDConnectProvider,
    TagOpenIDConnectProvider,
    UntagOpenIDConnectProvider,
    ListOpenIDConnectProviderTags,
    CreateSAMLProvider,
    GetSAMLProvider,
    ListSAMLProviders,
    UpdateSAMLProvider,
    DeleteSAMLProvider,
    TagSAMLProvider,
    UntagSAMLProvider,
    ListSAMLProviderTags,
    CreateUser,
    GetUser,
    ListUsers,
    UpdateUser,
    DeleteUser,
    PutUserPolicy,
    GetUserPolicy,
    ListUserPolicies,
    DeleteUserPolicy,
    AttachUserPolicy,
    DetachUserPolicy,
    ListAttachedUserPolicies,
    PutUserPermissionsBoundary,
    DeleteUserPermissionsBoundary,
    TagUser,
    UntagUser,
    ListUserTags,
    CreateGroup,
    GetGroup,
    ListGroups,
    DeleteGroup,
    AddUserToGroup,
    RemoveUserFromGroup,
    ListGroupsForUser,
    PutGroupPolicy,
    GetGroupPolicy,
    ListGroupPolicies,
    DeleteGroupPolicy,
    AttachGroupPolicy,
    DetachGroupPolicy,
    ListAttachedGroupPolicies,
    CreateAccountAlias,
    DeleteAccountAlias,
    ListAccountAliases,
    GetAccountSummary,
    CreateVirtualMFADevice,
    EnableMFADevice,
    DeactivateMFADevice,
    ResyncMFADevice,
    ListMFADevices,
    ListVirtualMFADevices,
    DeleteVirtualMFADevice,
    CreateAccessKey,
    ListAccessKeys,
    UpdateAccessKey,
    DeleteAccessKey,
    GetAccessKeyLastUsed,
    UpdateAccountPasswordPolicy,
    GetAccountPasswordPolicy,
    DeleteAccountPasswordPolicy,
    CreateLoginProfile,
    GetLoginProfile,
    UpdateLoginProfile,
    DeleteLoginProfile,
    ChangePassword,
    GenerateCredentialReport,
    GetCredentialReport,
}

impl Action {
    pub fn from_name(name: &str) -> Option<Action> {
        match name {
            "SimulateCustomPolicy" => Some(Action::SimulateCustomPolicy),
            "SimulatePrincipalPolicy" => Some(Action::SimulatePrincipalPolicy),
            "CreateRole" => Some(Action::CreateRole),
            "GetRole" => Some(Action::GetRole),
            "ListRoles" => Some(Action::ListRoles),
            "UpdateRole" => Some(Action::UpdateRole),
            "UpdateRoleDescription" => Some(Action::UpdateRoleDescription),
            "UpdateAssumeRolePolicy" => Some(Action::UpdateAssumeRolePolicy),
            "DeleteRole" => Some(Action::DeleteRole),
            "PutRolePolicy" => Some(Action::PutRolePolicy),
            "GetRolePolicy" => Some(Action::GetRolePolicy),
            "ListRolePolicies" => Some(Action::ListRolePolicies),
            "DeleteRolePolicy" => Some(Action::DeleteRolePolicy),
            "TagRole" => Some(Action::TagRole),
            "UntagRole" => Some(Action::UntagRole),
            "ListRoleTags" => Some(Action::ListRoleTags),
            "ListInstanceProfilesForRole" => Some(Action::ListInstanceProfilesForRole),
            "AttachRolePolicy" => Some(Action::AttachRolePolicy),
            "DetachRolePolicy" => Some(Action::DetachRolePolicy),
            "ListAttachedRolePolicies" => Some(Action::ListAttachedRolePolicies),
            "PutRolePermissionsBoundary" => Some(Action::PutRolePermissionsBoundary),
            "DeleteRolePermissionsBoundary" => Some(Action::DeleteRolePermissionsBoundary),
            "CreatePolicy" => Some(Action::CreatePolicy),
            "GetPolicy" => Some(Action::GetPolicy),
            "ListPolicies" => Some(Action::ListPolicies),
            "DeletePolicy" => Some(Action::DeletePolicy),
            "CreatePolicyVersion" => Some(Action::CreatePolicyVersion),
            "GetPolicyVersion" => Some(Action::GetPolicyVersion),
            "ListPolicyVersions" => Some(Action::ListPolicyVersions),
            "SetDefaultPolicyVersion" => Some(Action::SetDefaultPolicyVersion),
            "DeletePolicyVersion" => Some(Action::DeletePolicyVersion),
            "ListEntitiesForPolicy" => Some(Action::ListEntitiesForPolicy),
            "TagPolicy" => Some(Action::TagPolicy),
            "UntagPolicy" => Some(Action::UntagPolicy),
            "ListPolicyTags" => Some(Action::ListPolicyTags),
            "CreateOpenIDConnectProvider" => Some(Action::CreateOpenIDConnectProvider),
            "GetOpenIDConnectProvider" => Some(Action::GetOpenIDConnectProvider),
            "ListOpenIDConnectProviders" => Some(Action::ListOpenIDConnectProviders),
            "AddClientIDToOpenIDConnectProvider" => {
                Some(Action::AddClientIDToOpenIDConnectProvider)
            }
            "RemoveClientIDFromOpenIDConnectProvider" => {
                Some(Action::RemoveClientIDFromOpenIDConnectProvider)
            }
            "UpdateOpenIDConnectProviderThumbprint" => {
                Some(Action::UpdateOpenIDConnectProviderThumbprint)
            }
            "DeleteOpenIDConnectProvider" => Some(Action::DeleteOpenIDConnectProvider),
            "TagOpenIDConnectProvider" => Some(Action::TagOpenIDConnectProvider),
            "UntagOpenIDConnectProvider" => Some(Action::UntagOpenIDConnectProvider),
            "ListOpenIDConnectProviderTags" => Some(Action::ListOpenIDConnectProviderTags),
            "CreateSAMLProvider" => Some(Action::CreateSAMLProvider),
            "GetSAMLProvider" => Some(Action::GetSAMLProvider),
            "ListSAMLProviders" => Some(Action::ListSAMLProviders),
            "UpdateSAMLProvider" => Some(Action::UpdateSAMLProvider),
            "DeleteSAMLProvider" => Some(Action::DeleteSAMLProvider),
            "TagSAMLProvider" => Some(Action::TagSAMLProvider),
            "UntagSAMLProvider" => Some(Action::UntagSAMLProvider),
            "ListSAMLProviderTags" => Some(Action::ListSAMLProviderTags),
            "CreateUser" => Some(Action::CreateUser),
            "GetUser" => Some(Action::GetUser),
            "ListUsers" => Some(Action::ListUsers),
            "UpdateUser" => Some(Action::UpdateUser),
            "DeleteUser" => Some(Action::DeleteUser),
            "PutUserPolicy" => Some(Action::PutUserPolicy),
            "GetUserPolicy" => Some(Action::GetUserPolicy),
            "ListUserPolicies" => Some(Action::ListUserPolicies),
            "DeleteUserPolicy" => Some(Action::DeleteUserPolicy),
            "AttachUserPolicy" => Some(Action::AttachUserPolicy),
            "DetachUserPolicy" => Some(Action::DetachUserPolicy),
            "ListAttachedUserPolicies" => Some(Action::ListAttachedUserPolicies),
            "PutUserPermissionsBoundary" => Some(Action::PutUserPermissionsBoundary),
            "DeleteUserPermissionsBoundary" => Some(Action::DeleteUserPermissionsBoundary),
            "TagUser" => Some(Action::TagUser),
            "UntagUser" => Some(Action::UntagUser),
            "ListUserTags" => Some(Action::ListUserTags),
            "CreateGroup" => Some(Action::CreateGroup),
            "GetGroup" => Some(Action::GetGroup),
            "ListGroups" => Some(Action::ListGroups),
            "DeleteGroup" => Some(Action::DeleteGroup),
            "AddUserToGroup" => Some(Action::AddUserToGroup),
            "RemoveUserFromGroup" => Some(Action::RemoveUserFromGroup),
            "ListGroupsForUser" => Some(Action::ListGroupsForUser),
            "PutGroupPolicy" => Some(Action::PutGroupPolicy),
            "GetGroupPolicy" => Some(Action::GetGroupPolicy),
            "ListGroupPolicies" => Some(Action::ListGroupPolicies),
            "DeleteGroupPolicy" => Some(Action::DeleteGroupPolicy),
            "AttachGroupPolicy" => Some(Action::AttachGroupPolicy),
            "DetachGroupPolicy" => Some(Action::DetachGroupPolicy),
            "ListAttachedGroupPolicies" => Some(Action::ListAttachedGroupPolicies),
            "CreateAccountAlias" => Some(Action::CreateAccountAlias),
            "DeleteAccountAlias" => Some(Action::DeleteAccountAlias),
            "ListAccountAliases" => Some(Action::ListAccountAliases),
            "GetAccountSummary" => Some(Action::GetAccountSummary),
            "CreateVirtualMFADevice" => Some(Action::CreateVirtualMFADevice),
            "EnableMFADevice" => Some(Action::EnableMFADevice),
            "DeactivateMFADevice" => Some(Action::DeactivateMFADevice),
            "ResyncMFADevice" => Some(Action::ResyncMFADevice),
            "ListMFADevices" => Some(Action::ListMFADevices),
            "ListVirtualMFADevices" => Some(Action::ListVirtualMFADevices),
            "DeleteVirtualMFADevice" => Some(Action::DeleteVirtualMFADevice),
            "CreateAccessKey" => Some(Action::CreateAccessKey),
            "ListAccessKeys" => Some(Action::ListAccessKeys),
            "UpdateAccessKey" => Some(Action::UpdateAccessKey),
            "DeleteAccessKey" => Some(Action::DeleteAccessKey),
            "GetAccessKeyLastUsed" => Some(Action::GetAccessKeyLastUsed),
            "UpdateAccountPasswordPolicy" => Some(Action::UpdateAccountPasswordPolicy),
            "GetAccountPasswordPolicy" => Some(Action::GetAccountPasswordPolicy),
            "DeleteAccountPasswordPolicy" => Some(Action::DeleteAccountPasswordPolicy),
            "CreateLoginProfile" => Some(Action::CreateLoginProfile),
            "GetLoginProfile" => Some(Action::GetLoginProfile),
            "UpdateLoginProfile" => Some(Action::UpdateLoginProfile),
            "DeleteLoginProfile" => Some(Action::DeleteLoginProfile),
            "ChangePassword" => Some(Action::ChangePassword),
            "GenerateCredentialReport" => Some(Action::GenerateCredentialReport),
            "GetCredentialReport" => Some(Action::GetCredentialReport),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Action::SimulateCustomPolicy => "SimulateCustomPolicy",
            Action::SimulatePrincipalPolicy => "SimulatePrincipalPolicy",
            Action::CreateRole => "CreateRole",
            Action::GetRole => "GetRole",
            Action::ListRoles => "ListRoles",
            Action::UpdateRole => "UpdateRole",
            Action::UpdateRoleDescription => "UpdateRoleDescription",
            Action::UpdateAssumeRolePolicy => "UpdateAssumeRolePolicy",
            Action::DeleteRole => "DeleteRole",
            Action::PutRolePolicy => "PutRolePolicy",
            Action::GetRolePolicy => "GetRolePolicy",
            Action::ListRolePolicies => "ListRolePolicies",
            Action::DeleteRolePolicy => "DeleteRolePolicy",
            Action::TagRole => "TagRole",
            Action::UntagRole => "UntagRole",
            Action::ListRoleTags => "ListRoleTags",
            Action::ListInstanceProfilesForRole => "ListInstanceProfilesForRole",
            Action::AttachRolePolicy => "AttachRolePolicy",
            Action::DetachRolePolicy => "DetachRolePolicy",
            Action::ListAttachedRolePolicies => "ListAttachedRolePolicies",
            Action::PutRolePermissionsBoundary => "PutRolePermissionsBoundary",
            Action::DeleteRolePermissionsBoundary => "DeleteRolePermissionsBoundary",
            Action::CreatePolicy => "CreatePolicy",
            Action::GetPolicy => "GetPolicy",
            Action::ListPolicies => "ListPolicies",
            Action::DeletePolicy => "DeletePolicy",
            Action::CreatePolicyVersion => "CreatePolicyVersion",
            Action::GetPolicyVersion => "GetPolicyVersion",
            Action::ListPolicyVersions => "ListPolicyVersions",
            Action::SetDefaultPolicyVersion => "SetDefaultPolicyVersion",
            Action::DeletePolicyVersion => "DeletePolicyVersion",
            Action::ListEntitiesForPolicy => "ListEntitiesForPolicy",
            Action::TagPolicy => "TagPolicy",
            Action::UntagPolicy => "UntagPolicy",
            Action::ListPolicyTags => "ListPolicyTags",
            Action::CreateOpenIDConnectProvider => "CreateOpenIDConnectProvider",
            Action::GetOpenIDConnectProvider => "GetOpenIDConnectProvider",
            Action::ListOpenIDConnectProviders => "ListOpenIDConnectProviders",
            Action::AddClientIDToOpenIDConnectProvider => "AddClientIDToOpenIDConnectProvider",
            Action::RemoveClientIDFromOpenIDConnectProvider => {
                "RemoveClientIDFromOpenIDConnectProvider"
            }
            Action::UpdateOpenIDConnectProviderThumbprint => {
                "UpdateOpenIDConnectProviderThumbprint"
            }
            Action::DeleteOpenIDConnectProvider => "DeleteOpenIDConnectProvider",
            Action::TagOpenIDConnectProvider => "TagOpenIDConnectProvider",
            Action::UntagOpenIDConnectProvider => "UntagOpenIDConnectProvider",
            Action::ListOpenIDConnectProviderTags => "ListOpenIDConnectProviderTags",
            Action::CreateSAMLProvider => "CreateSAMLProvider",
            Action::GetSAMLProvider => "GetSAMLProvider",
            Action::ListSAMLProviders => "ListSAMLProviders",
            Action::UpdateSAMLProvider => "UpdateSAMLProvider",
            Action::DeleteSAMLProvider => "DeleteSAMLProvider",
            Action::TagSAMLProvider => "TagSAMLProvider",
            Action::UntagSAMLProvider => "UntagSAMLProvider",
            Action::ListSAMLProviderTags => "ListSAMLProviderTags",
            Action::CreateUser => "CreateUser",
            Action::GetUser => "GetUser",
            Action::ListUsers => "ListUsers",
            Action::UpdateUser => "UpdateUser",
            Action::DeleteUser => "DeleteUser",
            Action::PutUserPolicy => "PutUserPolicy",
            Action::GetUserPolicy => "GetUserPolicy",
            Action::ListUserPolicies => "ListUserPolicies",
            Action::DeleteUserPolicy => "DeleteUserPolicy",
            Action::AttachUserPolicy => "AttachUserPolicy",
            Action::DetachUserPolicy => "DetachUserPolicy",
            Action::ListAttachedUserPolicies => "ListAttachedUserPolicies",
            Action::PutUserPermissionsBoundary => "PutUserPermissionsBoundary",
            Action::DeleteUserPermissionsBoundary => "DeleteUserPermissionsBoundary",
            Action::TagUser => "TagUser",
            Action::UntagUser => "UntagUser",
            Action::ListUserTags => "ListUserTags",
            Action::CreateGroup => "CreateGroup",
            Action::GetGroup => "GetGroup",
            Action::ListGroups => "ListGroups",
            Action::DeleteGroup => "DeleteGroup",
            Action::AddUserToGroup => "AddUserToGroup",
            Action::RemoveUserFromGroup => "RemoveUserFromGroup",
            Action::ListGroupsForUser => "ListGroupsForUser",
            Action::PutGroupPolicy => "PutGroupPolicy",
            Action::GetGroupPolicy => "GetGroupPolicy",
            Action::ListGroupPolicies => "ListGroupPolicies",
            Action::DeleteGroupPolicy => "DeleteGroupPolicy",
            Action::AttachGroupPolicy => "AttachGroupPolicy",
            Action::DetachGroupPolicy => "DetachGroupPolicy",
            Action::ListAttachedGroupPolicies => "ListAttachedGroupPolicies",
            Action::CreateAccountAlias => "CreateAccountAlias",
            Action::DeleteAccountAlias => "DeleteAccountAlias",
            Action::ListAccountAliases => "ListAccountAliases",
            Action::GetAccountSummary => "GetAccountSummary",
            Action::CreateVirtualMFADevice => "CreateVirtualMFADevice",
            Action::EnableMFADevice => "EnableMFADevice",
            Action::DeactivateMFADevice => "DeactivateMFADevice",
            Action::ResyncMFADevice => "ResyncMFADevice",
            Action::ListMFADevices => "ListMFADevices",
            Action::ListVirtualMFADevices => "ListVirtualMFADevices",
            Action::DeleteVirtualMFADevice => "DeleteVirtualMFADevice",
            Action::CreateAccessKey => "CreateAccessKey",
            Action::ListAccessKeys => "ListAccessKeys",
            Action::UpdateAccessKey => "UpdateAccessKey",
            Action::DeleteAccessKey => "DeleteAccessKey",
            Action::GetAccessKeyLastUsed => "GetAccessKeyLastUsed",
            Action::UpdateAccountPasswordPolicy => "UpdateAccountPasswordPolicy",
            Action::GetAccountPasswordPolicy => "GetAccountPasswordPolicy",
            Action::DeleteAccountPasswordPolicy => "DeleteAccountPasswordPolicy",
            Action::CreateLoginProfile => "CreateLoginProfile",
            Action::GetLoginProfile => "GetLoginProfile",
            Action::UpdateLoginProfile => "UpdateLoginProfile",
            Action::DeleteLoginProfile => "DeleteLoginProfile",
            Action::ChangePassword => "ChangePassword",
            Action::GenerateCredentialReport => "GenerateCredentialReport",
            Action::GetCredentialReport => "GetCredentialReport",
        }
    }

    pub fn response_tag(self) -> &'static str {
        match self {
            Action::SimulateCustomPolicy => "SimulateCustomPolicyResponse",
            Action::SimulatePrincipalPolicy => "SimulatePrincipalPolicyResponse",
            Action::CreateRole => "CreateRoleResponse",
            Action::GetRole => "GetRoleResponse",
            Action::ListRoles => "ListRolesResponse",
            Action::UpdateRole => "UpdateRoleResponse",
            Action::UpdateRoleDescription => "UpdateRoleDescriptionResponse",
            Action::UpdateAssumeRolePolicy => "UpdateAssumeRolePolicyResponse",
            Action::DeleteRole => "DeleteRoleResponse",
            Action::PutRolePolicy => "PutRolePolicyResponse",
            Action::GetRolePolicy => "GetRolePolicyResponse",
            Action::ListRolePolicies => "ListRolePoliciesResponse",
            Action::DeleteRolePolicy => "DeleteRolePolicyResponse",
            Action::TagRole => "TagRoleResponse",
            Action::UntagRole => "UntagRoleResponse",
            Action::ListRoleTags => "ListRoleTagsResponse",
            Action::ListInstanceProfilesForRole => "ListInstanceProfilesForRoleResponse",
            Action::AttachRolePolicy => "AttachRolePolicyResponse",
            Action::DetachRolePolicy => "DetachRolePolicyResponse",
            Action::ListAttachedRolePolicies => "ListAttachedRolePoliciesResponse",
            Action::PutRolePermissionsBoundary => "PutRolePermissionsBoundaryResponse",
            Action::DeleteRolePermissionsBoundary => "DeleteRolePermissionsBoundaryResponse",
            Action::CreatePolicy => "CreatePolicyResponse",
            Action::GetPolicy => "GetPolicyResponse",
            Action::ListPolicies => "ListPoliciesResponse",
            Action::DeletePolicy => "DeletePolicyResponse",
            Action::CreatePolicyVersion => "CreatePolicyVersionResponse",
            Action::GetPolicyVersion => "GetPolicyVersionResponse",
            Action::ListPolicyVersions => "ListPolicyVersionsResponse",
            Action::SetDefaultPolicyVersion => "SetDefaultPolicyVersionResponse",
            Action::DeletePolicyVersion => "DeletePolicyVersionResponse",
            Action::ListEntitiesForPolicy => "ListEntitiesForPolicyResponse",
            Action::TagPolicy => "TagPolicyResponse",
            Action::UntagPolicy => "UntagPolicyResponse",
            Action::ListPolicyTags => "ListPolicyTagsResponse",
            Action::CreateOpenIDConnectProvider => "CreateOpenIDConnectProviderResponse",
            Action::GetOpenIDConnectProvider => "GetOpenIDConnectProviderResponse",
            Action::ListOpenIDConnectProviders => "ListOpenIDConnectProvidersResponse",
            Action::AddClientIDToOpenIDConnectProvider => {
                "AddClientIDToOpenIDConnectProviderResponse"
            }
            Action::RemoveClientIDFromOpenIDConnectProvider => {
                "RemoveClientIDFromOpenIDConnectProviderResponse"
            }
            Action::UpdateOpenIDConnectProviderThumbprint => {
                "UpdateOpenIDConnectProviderThumbprintResponse"
            }
            Action::DeleteOpenIDConnectProvider => "DeleteOpenIDConnectProviderResponse",
            Action::TagOpenIDConnectProvider => "TagOpenIDConnectProviderResponse",
            Action::UntagOpenIDConnectProvider => "UntagOpenIDConnectProviderResponse",
            Action::ListOpenIDConnectProviderTags => "ListOpenIDConnectProviderTagsResponse",
            Action::CreateSAMLProvider => "CreateSAMLProviderResponse",
            Action::GetSAMLProvider => "GetSAMLProviderResponse",
            Action::ListSAMLProviders => "ListSAMLProvidersResponse",
            Action::UpdateSAMLProvider => "UpdateSAMLProviderResponse",
            Action::DeleteSAMLProvider => "DeleteSAMLProviderResponse",
            Action::TagSAMLProvider => "TagSAMLProviderResponse",
            Action::UntagSAMLProvider => "UntagSAMLProviderResponse",
            Action::ListSAMLProviderTags => "ListSAMLProviderTagsResponse",
            Action::CreateUser => "CreateUserResponse",
            Action::GetUser => "GetUserResponse",
            Action::ListUsers => "ListUsersResponse",
            Action::UpdateUser => "UpdateUserResponse",
            Action::DeleteUser => "DeleteUserResponse",
            Action::PutUserPolicy => "PutUserPolicyResponse",
            Action::GetUserPolicy => "GetUserPolicyResponse",
            Action::ListUserPolicies => "ListUserPoliciesResponse",
            Action::DeleteUserPolicy => "DeleteUserPolicyResponse",
            Action::AttachUserPolicy => "AttachUserPolicyResponse",
            Action::DetachUserPolicy => "DetachUserPolicyResponse",
            Action::ListAttachedUserPolicies => "ListAttachedUserPoliciesResponse",
            Action::PutUserPermissionsBoundary => "PutUserPermissionsBoundaryResponse",
            Action::DeleteUserPermissionsBoundary => "DeleteUserPermissionsBoundaryResponse",
            Action::TagUser => "TagUserResponse",
            Action::UntagUser => "UntagUserResponse",
            Action::ListUserTags => "ListUserTagsResponse",
            Action::CreateGroup => "CreateGroupResponse",
            Action::GetGroup => "GetGroupResponse",
            Action::ListGroups => "ListGroupsResponse",
            Action::DeleteGroup => "DeleteGroupResponse",
            Action::AddUserToGroup => "AddUserToGroupResponse",
            Action::RemoveUserFromGroup => "RemoveUserFromGroupResponse",
            Action::ListGroupsForUser => "ListGroupsForUserResponse",
            Action::PutGroupPolicy => "PutGroupPolicyResponse",
            Action::GetGroupPolicy => "GetGroupPolicyResponse",
            Action::ListGroupPolicies => "ListGroupPoliciesResponse",
            Action::DeleteGroupPolicy => "DeleteGroupPolicyResponse",
            Action::AttachGroupPolicy => "AttachGroupPolicyResponse",
            Action::DetachGroupPolicy => "DetachGroupPolicyResponse",
            Action::ListAttachedGroupPolicies => "ListAttachedGroupPoliciesResponse",
            Action::CreateAccountAlias => "CreateAccountAliasResponse",
            Action::DeleteAccountAlias => "DeleteAccountAliasResponse",
            Action::ListAccountAliases => "ListAccountAliasesResponse",
            Action::GetAccountSummary => "GetAccountSummaryResponse",
            Action::CreateVirtualMFADevice => "CreateVirtualMFADeviceResponse",
            Action::EnableMFADevice => "EnableMFADeviceResponse",
            Action::DeactivateMFADevice => "DeactivateMFADeviceResponse",
            Action::ResyncMFADevice => "ResyncMFADeviceResponse",
            Action::ListMFADevices => "ListMFADevicesResponse",
            Action::ListVirtualMFADevices => "ListVirtualMFADevicesResponse",
            Action::DeleteVirtualMFADevice => "DeleteVirtualMFADeviceResponse",
            Action::CreateAccessKey => "CreateAccessKeyResponse",
            Action::ListAccessKeys => "ListAccessKeysResponse",
            Action::UpdateAccessKey => "UpdateAccessKeyResponse",
            Action::DeleteAccessKey => "DeleteAccessKeyResponse",
            Action::GetAccessKeyLastUsed => "GetAccessKeyLastUsedResponse",
            Action::UpdateAccountPasswordPolicy => "UpdateAccountPasswordPolicyResponse",
            Action::GetAccountPasswordPolicy => "GetAccountPasswordPolicyResponse",
            Action::DeleteAccountPasswordPolicy => "DeleteAccountPasswordPolicyResponse",
            Action::CreateLoginProfile => "CreateLoginProfileResponse",
            Action::GetLoginProfile => "GetLoginProfileResponse",
            Action::UpdateLoginProfile => "UpdateLoginProfileResponse",
            Action::DeleteLoginProfile => "DeleteLoginProfileResponse",
            Action::ChangePassword => "ChangePasswordResponse",
            Action::GenerateCredentialReport => "GenerateCredentialReportResponse",
            Action::GetCredentialReport => "GetCredentialReportResponse",
        }
    }

    pub fn result_tag(self) -> &'static str {
        match self {
            Action::SimulateCustomPolicy => "SimulateCustomPolicyResult",
            Action::SimulatePrincipalPolicy => "SimulatePrincipalPolicyResult",
            Action::CreateRole => "CreateRoleResult",
            Action::GetRole => "GetRoleResult",
            Action::ListRoles => "ListRolesResult",
            Action::UpdateRole => "UpdateRoleResult",
            Action::UpdateRoleDescription => "UpdateRoleDescriptionResult",
            Action::UpdateAssumeRolePolicy => "UpdateAssumeRolePolicyResult",
            Action::DeleteRole => "DeleteRoleResult",
            Action::PutRolePolicy => "PutRolePolicyResult",
            Action::GetRolePolicy => "GetRolePolicyResult",
            Action::ListRolePolicies => "ListRolePoliciesResult",
            Action::DeleteRolePolicy => "DeleteRolePolicyResult",
            Action::TagRole => "TagRoleResult",
            Action::UntagRole => "UntagRoleResult",
            Action::ListRoleTags => "ListRoleTagsResult",
            Action::ListInstanceProfilesForRole => "ListInstanceProfilesForRoleResult",
            Action::AttachRolePolicy => "AttachRolePolicyResult",
            Action::DetachRolePolicy => "DetachRolePolicyResult",
            Action::ListAttachedRolePolicies => "ListAttachedRolePoliciesResult",
            Action::PutRolePermissionsBoundary => "PutRolePermissionsBoundaryResult",
            Action::DeleteRolePermissionsBoundary => "DeleteRolePermissionsBoundaryResult",
            Action::CreatePolicy => "CreatePolicyResult",
            Action::GetPolicy => "GetPolicyResult",
            Action::ListPolicies => "ListPoliciesResult",
            Action::DeletePolicy => "DeletePolicyResult",
            Action::CreatePolicyVersion => "CreatePolicyVersionResult",
            Action::GetPolicyVersion => "GetPolicyVersionResult",
            Action::ListPolicyVersions => "ListPolicyVersionsResult",
            Action::SetDefaultPolicyVersion => "SetDefaultPolicyVersionResult",
            Action::DeletePolicyVersion => "DeletePolicyVersionResult",
            Action::ListEntitiesForPolicy => "ListEntitiesForPolicyResult",
            Action::TagPolicy => "TagPolicyResult",
            Action::UntagPolicy => "UntagPolicyResult",
            Action::ListPolicyTags => "ListPolicyTagsResult",
            Action::CreateOpenIDConnectProvider => "CreateOpenIDConnectProviderResult",
            Action::GetOpenIDConnectProvider => "GetOpenIDConnectProviderResult",
            Action::ListOpenIDConnectProviders => "ListOpenIDConnectProvidersResult",
            Action::AddClientIDToOpenIDConnectProvider => {
                "AddClientIDToOpenIDConnectProviderResult"
            }
            Action::RemoveClientIDFromOpenIDConnectProvider => {
                "RemoveClientIDFromOpenIDConnectProviderResult"
            }
            Action::UpdateOpenIDConnectProviderThumbprint => {
                "UpdateOpenIDConnectProviderThumbprintResult"
            }
            Action::DeleteOpenIDConnectProvider => "DeleteOpenIDConnectProviderResult",
            Action::TagOpenIDConnectProvider => "TagOpenIDConnectProviderResult",
            Action::UntagOpenIDConnectProvider => "UntagOpenIDConnectProviderResult",
            Action::ListOpenIDConnectProviderTags => "ListOpenIDConnectProviderTagsResult",
            Action::CreateSAMLProvider => "CreateSAMLProviderResult",
            Action::GetSAMLProvider => "GetSAMLProviderResult",
            Action::ListSAMLProviders => "ListSAMLProvidersResult",
            Action::UpdateSAMLProvider => "UpdateSAMLProviderResult",
            Action::DeleteSAMLProvider => "DeleteSAMLProviderResult",
            Action::TagSAMLProvider => "TagSAMLProviderResult",
            Action::UntagSAMLProvider => "UntagSAMLProviderResult",
            Action::ListSAMLProviderTags => "ListSAMLProviderTagsResult",
            Action::CreateUser => "CreateUserResult",
            Action::GetUser => "GetUserResult",
            Action::ListUsers => "ListUsersResult",
            Action::UpdateUser => "UpdateUserResult",
            Action::DeleteUser => "DeleteUserResult",
            Action::PutUserPolicy => "PutUserPolicyResult",
            Action::GetUserPolicy => "GetUserPolicyResult",
            Action::ListUserPolicies => "ListUserPoliciesResult",
            Action::DeleteUserPolicy => "DeleteUserPolicyResult",
            Action::AttachUserPolicy => "AttachUserPolicyResult",
            Action::DetachUserPolicy => "DetachUserPolicyResult",
            Action::ListAttachedUserPolicies => "ListAttachedUserPoliciesResult",
            Action::PutUserPermissionsBoundary => "PutUserPermissionsBoundaryResult",
            Action::DeleteUserPermissionsBoundary => "DeleteUserPermissionsBoundaryResult",
            Action::TagUser => "TagUserResult",
            Action::UntagUser => "UntagUserResult",
            Action::ListUserTags => "ListUserTagsResult",
            Action::CreateGroup => "CreateGroupResult",
            Action::GetGroup => "GetGroupResult",
            Action::ListGroups => "ListGroupsResult",
            Action::DeleteGroup => "DeleteGroupResult",
            Action::AddUserToGroup => "AddUserToGroupResult",
            Action::RemoveUserFromGroup => "RemoveUserFromGroupResult",
            Action::ListGroupsForUser => "ListGroupsForUserResult",
            Action::PutGroupPolicy => "PutGroupPolicyResult",
            Action::GetGroupPolicy => "GetGroupPolicyResult",
            Action::ListGroupPolicies => "ListGroupPoliciesResult",
            Action::DeleteGroupPolicy => "DeleteGroupPolicyResult",
            Action::AttachGroupPolicy => "AttachGroupPolicyResult",
            Action::DetachGroupPolicy => "DetachGroupPolicyResult",
            Action::ListAttachedGroupPolicies => "ListAttachedGroupPoliciesResult",
            Action::CreateAccountAlias => "CreateAccountAliasResult",
            Action::DeleteAccountAlias => "DeleteAccountAliasResult",
            Action::ListAccountAliases => "ListAccountAliasesResult",
            Action::GetAccountSummary => "GetAccountSummaryResult",
            Action::CreateVirtualMFADevice => "CreateVirtualMFADeviceResult",
            Action::EnableMFADevice => "EnableMFADeviceResult",
            Action::DeactivateMFADevice => "DeactivateMFADeviceResult",
            Action::ResyncMFADevice => "ResyncMFADeviceResult",
            Action::ListMFADevices => "ListMFADevicesResult",
            Action::ListVirtualMFADevices => "ListVirtualMFADevicesResult",
            Action::DeleteVirtualMFADevice => "DeleteVirtualMFADeviceResult",
            Action::CreateAccessKey => "CreateAccessKeyResult",
            Action::ListAccessKeys => "ListAccessKeysResult",
            Action::UpdateAccessKey => "UpdateAccessKeyResult",
            Action::DeleteAccessKey => "DeleteAccessKeyResult",
            Action::GetAccessKeyLastUsed => "GetAccessKeyLastUsedResult",
            Action::UpdateAccountPasswordPolicy => "UpdateAccountPasswordPolicyResult",
            Action::GetAccountPasswordPolicy => "GetAccountPasswordPolicyResult",
            Action::DeleteAccountPasswordPolicy => "DeleteAccountPasswordPolicyResult",
            Action::CreateLoginProfile => "CreateLoginProfileResult",
            Action::GetLoginProfile => "GetLoginProfileResult",
            Action::UpdateLoginProfile => "UpdateLoginProfileResult",
            Action::DeleteLoginProfile => "DeleteLoginProfileResult",
            Action::ChangePassword => "ChangePasswordResult",
            Action::GenerateCredentialReport => "GenerateCredentialReportResult",
            Action::GetCredentialReport => "GetCredentialReportResult",
        }
    }
}

/// Runs one IAM Query API request (its `Version` is [`VERSION`]).
pub async fn dispatch(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
    action: &str,
) -> Result<String, ApiError> {
    match Action::from_name(action) {
        Some(a @ Action::SimulateCustomPolicy) => {
            success(a, &simulate::custom(state, params, meta).await?, meta)
        }
        Some(a @ Action::SimulatePrincipalPolicy) => {
            success(a, &simulate::principal(state, params, meta).await?, meta)
        }
        Some(a @ Action::CreateRole) => {
            success(a, &roles::create_role(state, params, meta).await?, meta)
        }
        Some(a @ Action::GetRole) => success(a, &roles::get_role(state, params, meta).await?, meta),
        Some(a @ Action::ListRoles) => {
            success(a, &roles::list_roles(state, params, meta).await?, meta)
        }
        Some(a @ Action::UpdateRole) => {
            success(a, &roles::update_role(state, params, meta).await?, meta)
        }
        Some(a @ Action::UpdateRoleDescription) => success(
            a,
            &roles::update_role_description(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::UpdateAssumeRolePolicy) => success(
            a,
            &roles::update_assume_role_policy(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::DeleteRole) => {
            success(a, &roles::delete_role(state, params, meta).await?, meta)
        }
        Some(a @ Action::PutRolePolicy) => {
            success(a, &roles::put_role_policy(state, params, meta).await?, meta)
        }
        Some(a @ Action::GetRolePolicy) => {
            success(a, &roles::get_role_policy(state, params, meta).await?, meta)
        }
        Some(a @ Action::ListRolePolicies) => success(
            a,
            &roles::list_role_policies(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::DeleteRolePolicy) => success(
            a,
            &roles::delete_role_policy(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::TagRole) => success(a, &roles::tag_role(state, params, meta).await?, meta),
        Some(a @ Action::UntagRole) => {
            success(a, &roles::untag_role(state, params, meta).await?, meta)
        }
        Some(a @ Action::ListRoleTags) => {
            success(a, &roles::list_role_tags(state, params, meta).await?, meta)
        }
        Some(a @ Action::ListInstanceProfilesForRole) => success(
            a,
            &roles::list_instance_profiles_for_role(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::AttachRolePolicy) => success(
            a,
            &roles::attach_role_policy(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::DetachRolePolicy) => success(
            a,
            &roles::detach_role_policy(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::ListAttachedRolePolicies) => success(
            a,
            &roles::list_attached_role_policies(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::PutRolePermissionsBoundary) => success(
            a,
            &roles::put_role_permissions_boundary(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::DeleteRolePermissionsBoundary) => success(
            a,
            &roles::delete_role_permissions_boundary(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::CreatePolicy) => success(
            a,
            &policies::create_policy(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::GetPolicy) => {
            success(a, &policies::get_policy(state, params, meta).await?, meta)
        }
        Some(a @ Action::ListPolicies) => success(
            a,
            &policies::list_policies(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::DeletePolicy) => success(
            a,
            &policies::delete_policy(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::CreatePolicyVersion) => success(
            a,
            &policies::create_policy_version(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::GetPolicyVersion) => success(
            a,
            &policies::get_policy_version(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::ListPolicyVersions) => success(
            a,
            &policies::list_policy_versions(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::SetDefaultPolicyVersion) => success(
            a,
            &policies::set_default_policy_version(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::DeletePolicyVersion) => success(
            a,
            &policies::delete_policy_version(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::ListEntitiesForPolicy) => success(
            a,
            &policies::list_entities_for_policy(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::TagPolicy) => {
            success(a, &policies::tag_policy(state, params, meta).await?, meta)
        }
        Some(a @ Action::UntagPolicy) => {
            success(a, &policies::untag_policy(state, params, meta).await?, meta)
        }
        Some(a @ Action::ListPolicyTags) => success(
            a,
            &policies::list_policy_tags(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::CreateOpenIDConnectProvider) => {
            success(a, &providers::create_oidc(state, params, meta).await?, meta)
        }
        Some(a @ Action::GetOpenIDConnectProvider) => {
            success(a, &providers::get_oidc(state, params, meta).await?, meta)
        }
        Some(a @ Action::ListOpenIDConnectProviders) => {
            success(a, &providers::list_oidc(state, params, meta).await?, meta)
        }
        Some(a @ Action::AddClientIDToOpenIDConnectProvider) => success(
            a,
            &providers::add_client_id(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::RemoveClientIDFromOpenIDConnectProvider) => success(
            a,
            &providers::remove_client_id(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::UpdateOpenIDConnectProviderThumbprint) => success(
            a,
            &providers::update_thumbprint(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::DeleteOpenIDConnectProvider) => {
            success(a, &providers::delete_oidc(state, params, meta).await?, meta)
        }
        Some(a @ Action::TagOpenIDConnectProvider) => {
            success(a, &providers::tag_oidc(state, params, meta).await?, meta)
        }
        Some(a @ Action::UntagOpenIDConnectProvider) => {
            success(a, &providers::untag_oidc(state, params, meta).await?, meta)
        }
        Some(a @ Action::ListOpenIDConnectProviderTags) => success(
            a,
            &providers::list_oidc_tags(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::CreateSAMLProvider) => {
            success(a, &providers::create_saml(state, params, meta).await?, meta)
        }
        Some(a @ Action::GetSAMLProvider) => {
            success(a, &providers::get_saml(state, params, meta).await?, meta)
        }
        Some(a @ Action::ListSAMLProviders) => {
            success(a, &providers::list_saml(state, params, meta).await?, meta)
        }
        Some(a @ Action::UpdateSAMLProvider) => {
            success(a, &providers::update_saml(state, params, meta).await?, meta)
        }
        Some(a @ Action::DeleteSAMLProvider) => {
            success(a, &providers::delete_saml(state, params, meta).await?, meta)
        }
        Some(a @ Action::TagSAMLProvider) => {
            success(a, &providers::tag_saml(state, params, meta).await?, meta)
        }
        Some(a @ Action::UntagSAMLProvider) => {
            success(a, &providers::untag_saml(state, params, meta).await?, meta)
        }
        Some(a @ Action::ListSAMLProviderTags) => success(
            a,
            &providers::list_saml_tags(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::CreateUser) => {
            success(a, &users::create_user(state, params, meta).await?, meta)
        }
        Some(a @ Action::GetUser) => success(a, &users::get_user(state, params, meta).await?, meta),
        Some(a @ Action::ListUsers) => {
            success(a, &users::list_users(state, params, meta).await?, meta)
        }
        Some(a @ Action::UpdateUser) => {
            success(a, &users::update_user(state, params, meta).await?, meta)
        }
        Some(a @ Action::DeleteUser) => {
            success(a, &users::delete_user(state, params, meta).await?, meta)
        }
        Some(a @ Action::PutUserPolicy) => {
            success(a, &users::put_user_policy(state, params, meta).await?, meta)
        }
        Some(a @ Action::GetUserPolicy) => {
            success(a, &users::get_user_policy(state, params, meta).await?, meta)
        }
        Some(a @ Action::ListUserPolicies) => success(
            a,
            &users::list_user_policies(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::DeleteUserPolicy) => success(
            a,
            &users::delete_user_policy(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::AttachUserPolicy) => success(
            a,
            &users::attach_user_policy(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::DetachUserPolicy) => success(
            a,
            &users::detach_user_policy(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::ListAttachedUserPolicies) => success(
            a,
            &users::list_attached_user_policies(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::PutUserPermissionsBoundary) => success(
            a,
            &users::put_user_permissions_boundary(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::DeleteUserPermissionsBoundary) => success(
            a,
            &users::delete_user_permissions_boundary(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::TagUser) => success(a, &users::tag_user(state, params, meta).await?, meta),
        Some(a @ Action::UntagUser) => {
            success(a, &users::untag_user(state, params, meta).await?, meta)
        }
        Some(a @ Action::ListUserTags) => {
            success(a, &users::list_user_tags(state, params, meta).await?, meta)
        }
        Some(a @ Action::CreateGroup) => {
            success(a, &users::create_group(state, params, meta).await?, meta)
        }
        Some(a @ Action::GetGroup) => {
            success(a, &users::get_group(state, params, meta).await?, meta)
        }
        Some(a @ Action::ListGroups) => {
            success(a, &users::list_groups(state, params, meta).await?, meta)
        }
        Some(a @ Action::DeleteGroup) => {
            success(a, &users::delete_group(state, params, meta).await?, meta)
        }
        Some(a @ Action::AddUserToGroup) => success(
            a,
            &users::add_user_to_group(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::RemoveUserFromGroup) => success(
            a,
            &users::remove_user_from_group(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::ListGroupsForUser) => success(
            a,
            &users::list_groups_for_user(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::PutGroupPolicy) => success(
            a,
            &users::put_group_policy(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::GetGroupPolicy) => success(
            a,
            &users::get_group_policy(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::ListGroupPolicies) => success(
            a,
            &users::list_group_policies(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::DeleteGroupPolicy) => success(
            a,
            &users::delete_group_policy(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::AttachGroupPolicy) => success(
            a,
            &users::attach_group_policy(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::DetachGroupPolicy) => success(
            a,
            &users::detach_group_policy(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::ListAttachedGroupPolicies) => success(
            a,
            &users::list_attached_group_policies(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::CreateAccountAlias) => success(
            a,
            &users::create_account_alias(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::DeleteAccountAlias) => success(
            a,
            &users::delete_account_alias(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::ListAccountAliases) => success(
            a,
            &users::list_account_aliases(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::GetAccountSummary) => success(
            a,
            &users::get_account_summary(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::CreateVirtualMFADevice) => success(
            a,
            &mfa::create_virtual_mfa_device(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::EnableMFADevice) => {
            success(a, &mfa::enable_mfa_device(state, params, meta).await?, meta)
        }
        Some(a @ Action::DeactivateMFADevice) => success(
            a,
            &mfa::deactivate_mfa_device(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::ResyncMFADevice) => {
            success(a, &mfa::resync_mfa_device(state, params, meta).await?, meta)
        }
        Some(a @ Action::ListMFADevices) => {
            success(a, &mfa::list_mfa_devices(state, params, meta).await?, meta)
        }
        Some(a @ Action::ListVirtualMFADevices) => success(
            a,
            &mfa::list_virtual_mfa_devices(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::DeleteVirtualMFADevice) => success(
            a,
            &mfa::delete_virtual_mfa_device(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::CreateAccessKey) => success(
            a,
            &access_keys::create_access_key(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::ListAccessKeys) => success(
            a,
            &access_keys::list_access_keys(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::UpdateAccessKey) => success(
            a,
            &access_keys::update_access_key(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::DeleteAccessKey) => success(
            a,
            &access_keys::delete_access_key(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::GetAccessKeyLastUsed) => success(
            a,
            &access_keys::get_access_key_last_used(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::UpdateAccountPasswordPolicy) => success(
            a,
            &passwords::update_account_password_policy(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::GetAccountPasswordPolicy) => success(
            a,
            &passwords::get_account_password_policy(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::DeleteAccountPasswordPolicy) => success(
            a,
            &passwords::delete_account_password_policy(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::CreateLoginProfile) => success(
            a,
            &passwords::create_login_profile(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::GetLoginProfile) => success(
            a,
            &passwords::get_login_profile(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::UpdateLoginProfile) => success(
            a,
            &passwords::update_login_profile(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::DeleteLoginProfile) => success(
            a,
            &passwords::delete_login_profile(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::ChangePassword) => success(
            a,
            &passwords::change_password(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::GenerateCredentialReport) => success(
            a,
            &report::generate_credential_report(state, params, meta).await?,
            meta,
        ),
        Some(a @ Action::GetCredentialReport) => success(
            a,
            &report::get_credential_report(state, params, meta).await?,
            meta,
        ),
        None => Err(ApiError::invalid_action(action, VERSION)),
    }
}

fn success<T: Serialize>(
    action: Action,
    result: &T,
    meta: &RequestMeta,
) -> Result<String, ApiError> {
    xml::success_in(
        NAMESPACE,
        action.response_tag(),
        action.result_tag(),
        result,
        &meta.request_id,
    )
}

/// A Query API list: `<member>` elements.
#[derive(Debug, Serialize)]
pub struct Members<T> {
    pub member: Vec<T>,
}

impl<T> From<Vec<T>> for Members<T> {
    fn from(member: Vec<T>) -> Self {
        Members { member }
    }
}

//! Property names per Graph v1.0 entity type (own + base types, properties and navigation
//! properties), generated from Microsoft's `v1.0-entity-types.json` and the CSDL base types.
//! Used to validate `$select`.

/// `microsoft.graph.user` and its base types.
pub const USER: &[&str] = &[
    "aboutMe", "accountEnabled", "ageGroup", "assignedLicenses", "assignedPlans",
    "authorizationInfo", "birthday", "businessPhones", "city", "companyName",
    "consentProvidedForMinor", "country", "createdDateTime", "creationType",
    "customSecurityAttributes", "department", "deviceEnrollmentLimit", "displayName",
    "employeeHireDate", "employeeId", "employeeLeaveDateTime", "employeeOrgData", "employeeType",
    "externalUserState", "externalUserStateChangeDateTime", "faxNumber", "givenName", "hireDate",
    "identities", "identityParentId", "imAddresses", "interests", "isManagementRestricted",
    "isResourceAccount", "jobTitle", "lastPasswordChangeDateTime", "legalAgeGroupClassification",
    "licenseAssignmentStates", "mail", "mailboxSettings", "mailNickname", "mobilePhone", "mySite",
    "officeLocation", "onPremisesDistinguishedName", "onPremisesDomainName",
    "onPremisesExtensionAttributes", "onPremisesImmutableId", "onPremisesLastSyncDateTime",
    "onPremisesProvisioningErrors", "onPremisesSamAccountName", "onPremisesSecurityIdentifier",
    "onPremisesSyncEnabled", "onPremisesUserPrincipalName", "otherMails", "passwordPolicies",
    "passwordProfile", "pastProjects", "postalCode", "preferredDataLocation", "preferredLanguage",
    "preferredName", "print", "provisionedPlans", "proxyAddresses", "responsibilities", "schools",
    "securityIdentifier", "serviceProvisioningErrors", "showInAddressList", "signInActivity",
    "signInSessionsValidFromDateTime", "skills", "state", "streetAddress", "surname",
    "usageLocation", "userPrincipalName", "userType", "activities", "adhocCalls",
    "agreementAcceptances", "appRoleAssignments", "authentication", "calendar", "calendarGroups",
    "calendars", "calendarView", "chats", "cloudClipboard", "cloudPCs", "contactFolders",
    "contacts", "createdObjects", "dataSecurityAndGovernance",
    "deviceManagementTroubleshootingEvents", "directReports", "drive", "drives",
    "employeeExperience", "events", "extensions", "followedSites", "inferenceClassification",
    "insights", "joinedTeams", "licenseDetails", "mailFolders", "managedAppRegistrations",
    "managedDevices", "manager", "memberOf", "messages", "oauth2PermissionGrants", "onenote",
    "onlineMeetings", "onPremisesSyncBehavior", "outlook", "ownedDevices", "ownedObjects",
    "people", "permissionGrants", "photo", "photos", "planner", "presence", "registeredDevices",
    "scopedRoleMemberOf", "settings", "solutions", "sponsorOf", "sponsors", "teamwork", "todo",
    "transitiveMemberOf", "deletedDateTime", "id",
];

/// `microsoft.graph.group` and its base types.
pub const GROUP: &[&str] = &[
    "accessType", "allowExternalSenders", "assignedLabels", "assignedLicenses",
    "autoSubscribeNewMembers", "classification", "createdDateTime", "description", "displayName",
    "expirationDateTime", "groupTypes", "hasMembersWithLicenseErrors", "hideFromAddressLists",
    "hideFromOutlookClients", "infoCatalogs", "isArchived", "isAssignableToRole", "isFavorite",
    "isManagementRestricted", "isSubscribedByMail", "licenseProcessingState", "mail",
    "mailEnabled", "mailNickname", "membershipRule", "membershipRuleProcessingState",
    "onPremisesDomainName", "onPremisesExtensionAttributes", "onPremisesLastSyncDateTime",
    "onPremisesNetBiosName", "onPremisesProvisioningErrors", "onPremisesSamAccountName",
    "onPremisesSecurityIdentifier", "onPremisesSyncEnabled", "organizationId",
    "preferredDataLocation", "preferredLanguage", "proxyAddresses", "renewedDateTime",
    "resourceBehaviorOptions", "resourceProvisioningOptions", "securityEnabled",
    "securityIdentifier", "serviceProvisioningErrors", "theme", "uniqueName",
    "unseenConversationsCount", "unseenCount", "unseenMessagesCount", "visibility",
    "welcomeMessageEnabled", "acceptedSenders", "appRoleAssignments", "calendar", "calendarView",
    "conversations", "createdOnBehalfOf", "drive", "drives", "events", "extensions",
    "groupLifecyclePolicies", "memberOf", "members", "membersWithLicenseErrors", "onenote",
    "onPremisesSyncBehavior", "owners", "permissionGrants", "photo", "photos", "planner",
    "rejectedSenders", "settings", "sites", "team", "threads", "transitiveMemberOf",
    "transitiveMembers", "deletedDateTime", "id",
];

/// `microsoft.graph.mailFolder` and its base types.
pub const MAIL_FOLDER: &[&str] = &[
    "childFolderCount", "displayName", "isHidden", "parentFolderId", "totalItemCount",
    "unreadItemCount", "childFolders", "messageRules", "messages", "multiValueExtendedProperties",
    "singleValueExtendedProperties", "id",
];

/// `microsoft.graph.message` and its base types.
pub const MESSAGE: &[&str] = &[
    "bccRecipients", "body", "bodyPreview", "ccRecipients", "conversationId", "conversationIndex",
    "flag", "from", "hasAttachments", "importance", "inferenceClassification",
    "internetMessageHeaders", "internetMessageId", "isDeliveryReceiptRequested", "isDraft",
    "isRead", "isReadReceiptRequested", "parentFolderId", "receivedDateTime", "replyTo", "sender",
    "sentDateTime", "subject", "toRecipients", "uniqueBody", "webLink", "attachments",
    "extensions", "multiValueExtendedProperties", "singleValueExtendedProperties", "categories",
    "changeKey", "createdDateTime", "lastModifiedDateTime", "id",
];

/// `microsoft.graph.fileAttachment` and its base types.
pub const FILE_ATTACHMENT: &[&str] = &[
    "contentBytes", "contentId", "contentLocation", "contentType", "isInline",
    "lastModifiedDateTime", "name", "size", "id",
];

/// `microsoft.graph.itemAttachment` and its base types.
pub const ITEM_ATTACHMENT: &[&str] = &[
    "item", "contentType", "isInline", "lastModifiedDateTime", "name", "size", "id",
];

/// `microsoft.graph.referenceAttachment` and its base types.
pub const REFERENCE_ATTACHMENT: &[&str] = &[
    "contentType", "isInline", "lastModifiedDateTime", "name", "size", "id",
];

/// `microsoft.graph.event` and its base types.
pub const EVENT: &[&str] = &[
    "allowNewTimeProposals", "attendees", "body", "bodyPreview", "cancelledOccurrences", "end",
    "hasAttachments", "hideAttendees", "iCalUId", "importance", "isAllDay", "isCancelled",
    "isDraft", "isOnlineMeeting", "isOrganizer", "isReminderOn", "location", "locations",
    "onlineMeeting", "onlineMeetingProvider", "onlineMeetingUrl", "organizer",
    "originalEndTimeZone", "originalStart", "originalStartTimeZone", "recurrence",
    "reminderMinutesBeforeStart", "responseRequested", "responseStatus", "sensitivity",
    "seriesMasterId", "showAs", "start", "subject", "transactionId", "type", "webLink",
    "attachments", "calendar", "exceptionOccurrences", "extensions", "instances",
    "multiValueExtendedProperties", "singleValueExtendedProperties", "categories", "changeKey",
    "createdDateTime", "lastModifiedDateTime", "id",
];

/// `microsoft.graph.contact` and its base types.
pub const CONTACT: &[&str] = &[
    "assistantName", "birthday", "businessAddress", "businessHomePage", "businessPhones",
    "children", "companyName", "department", "displayName", "emailAddresses", "fileAs",
    "generation", "givenName", "homeAddress", "homePhones", "imAddresses", "initials", "jobTitle",
    "manager", "middleName", "mobilePhone", "nickName", "officeLocation", "otherAddress",
    "parentFolderId", "personalNotes", "primaryEmailAddress", "profession",
    "secondaryEmailAddress", "spouseName", "surname", "tertiaryEmailAddress", "title",
    "yomiCompanyName", "yomiGivenName", "yomiSurname", "extensions",
    "multiValueExtendedProperties", "photo", "singleValueExtendedProperties", "categories",
    "changeKey", "createdDateTime", "lastModifiedDateTime", "id",
];

/// `microsoft.graph.contactFolder` and its base types.
pub const CONTACT_FOLDER: &[&str] = &[
    "displayName", "parentFolderId", "childFolders", "contacts", "multiValueExtendedProperties",
    "singleValueExtendedProperties", "id",
];

/// `microsoft.graph.calendar` and its base types.
pub const CALENDAR: &[&str] = &[
    "allowedOnlineMeetingProviders", "canEdit", "canShare", "canViewPrivateItems", "changeKey",
    "color", "defaultOnlineMeetingProvider", "hexColor", "isDefaultCalendar", "isRemovable",
    "isTallyingResponses", "name", "owner", "calendarPermissions", "calendarView", "events",
    "multiValueExtendedProperties", "singleValueExtendedProperties", "id",
];

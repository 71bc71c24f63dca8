/** The access rules (issue #5 part 3): config slice, catalog, pure modules and the runner. */
export { accessRulesSchema, mergeThresholds, ThresholdResolver, type AccessRulesConfig, type AccessRulesInput, type RuleThresholds } from './config.js';
export { ACCESS_RULES, accessRuleIds, accessRuleOf, alarmRuleName, type AccessRuleCategory, type AccessRuleDef, type AccessRuleId } from './catalog.js';
export { AccessRulesRunner, ACCESS_RULES_PROFILE, type AccessRulesRunnerOptions, type AccessRulesStats } from './runner.js';
export { LocalTime, type LocalParts } from './local-time.js';
export { maintenanceIssue, type MaintenanceIssue } from './maintenance.js';
export { profileCoverage, type ProfileCoverage } from './profile-coverage.js';
export { configRuleDirectory, type ConfigRuleDirectoryOptions, type RefreshableRuleDirectory } from './directory.js';
export type { DoorInfo, RegisteredTenant, RuleDecision, RuleDirectory } from './types.js';
export { sqlTenantQueries, type TenantQueries } from './tenant-queries.js';

/** 十户联防 linkage (issue #5 part 5). */
export { linkageSchema, policyFor, type LinkageConfig, type LinkageConfigInput, type LinkagePolicy } from './config.js';
export { planLinkage, type LinkageMessage, type LinkagePlan, type LinkageRoom, type RoomRef } from './plan.js';
export { LinkageService, LINKAGE_ACTOR, type LinkageDirectory, type LinkageOptions, type LinkageStats } from './service.js';
export { linkageTopic } from './topic.js';
export { postLinkage } from './webhook.js';

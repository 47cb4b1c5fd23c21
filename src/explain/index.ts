export { explainConnection, explainTrace, packetFor, packetOf, protocolNumber, type ConnectionSpec, type Explanation, type ExplainStep } from './explain.ts';
export { conversationsFromStore, ruleUsage, whatIf, type Conversation, type RuleUsage, type WhatIfChange } from './replay.ts';

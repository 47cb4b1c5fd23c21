/**
 * The fabric: an emulated VPC that writes flow logs with AWS's semantics. Its public surface:
 * `emulate()` for runs, the topology loader, the policy engine (for `explain`), the scenario
 * registry and the delivery sinks.
 */
export { emulate, type EmulateResult } from './emulate.ts';
export { EmulateOptions, DEFAULT_START, DELIVERIES, type Delivery, type EmulateOptionsIn, type TopologyDocIn } from './config.ts';
export { loadTopology, buildTopology, TopologyError, DEFAULT_TOPOLOGY_PATH } from './topology.ts';
export {
  traceConnection,
  tracePacket,
  evaluateNacl,
  evaluateSecurityGroups,
  lookupRoute,
  bpaDecision,
  isNeverLogged,
  type Decision,
  type Hop,
  type Trace,
  type ConnectionTrace,
  type Packet,
  type Layer,
} from './policy.ts';
export { SCENARIOS, resolveScenarios, type Label } from './scenarios/index.ts';
export { SINKS, s3Key } from './sinks/index.ts';
export { parseIp, formatIp, parseCidr } from './ip.ts';
export type { Topology, Eni, Vpc, Subnet } from './model.ts';

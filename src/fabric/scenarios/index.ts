import { UserError } from '../../util/errors.ts';
import { blockPublicAccess, naclBlocksReturn, peerRouteRemoved, sgChangeBreaksDb } from './changes.ts';
import { ddos, portScanHorizontal, portScanVertical, rdpBruteForce, slowScan, sshBruteForce, winrmBruteForce } from './inbound.ts';
import type { ScenarioDef } from './kit.ts';
import { backupRunaway, flowLogOverload, workerCrash } from './operations.ts';
import { blackhole, c2Beacon, cryptoMining, exfiltration, outboundBruteForce, outboundDos, spamBot } from './outbound.ts';
import { webApp } from './web-app.ts';

/** Every scenario, by name (the registry `--scenario` and `--list-scenarios` read). */
export const SCENARIOS: ReadonlyMap<string, ScenarioDef> = new Map(
  [
    webApp,
    sshBruteForce,
    rdpBruteForce,
    outboundBruteForce,
    portScanVertical,
    portScanHorizontal,
    slowScan,
    exfiltration,
    ddos,
    outboundDos,
    spamBot,
    cryptoMining,
    sgChangeBreaksDb,
    naclBlocksReturn,
    blackhole,
    blockPublicAccess,
    winrmBruteForce,
    backupRunaway,
    peerRouteRemoved,
    workerCrash,
    flowLogOverload,
    c2Beacon,
  ].map((s) => [s.name, s]),
);

/** `all` picks every scenario; `attacks` every one but the baseline. */
const GROUPS: Record<string, () => string[]> = {
  all: () => [...SCENARIOS.keys()],
  attacks: () => [...SCENARIOS.keys()].filter((n) => n !== 'web-app'),
};

/**
 * Resolves scenario names (and the groups `all`, `attacks`), in order, without repeats.
 * @example resolveScenarios(['web-app', 'ssh-brute-force'])
 */
export function resolveScenarios(names: readonly string[]): ScenarioDef[] {
  const out = new Map<string, ScenarioDef>();
  for (const raw of names.flatMap((n) => n.split(',')).map((n) => n.trim()).filter(Boolean)) {
    for (const n of GROUPS[raw]?.() ?? [raw]) {
      const def = SCENARIOS.get(n);
      if (!def) throw new UserError(`unknown scenario "${n}"; run flowlens emulate --list-scenarios`);
      out.set(n, def);
    }
  }
  return [...out.values()];
}

export type { Label, ScenarioDef, ScenarioRun, ScenarioContext } from './kit.ts';

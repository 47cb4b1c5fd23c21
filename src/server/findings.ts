import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { CommitInfo } from '../ingest/index.ts';

/** An alert as the detection engine (src/detect) reports it. */
export interface Alert {
  id: string;
  rule_id: string;
  family: string;
  severity: string;
  title: string;
  state: string;
  actors: string[];
  targets: string[];
  enis: string[];
  first_seen: string | number;
  last_seen: string | number;
  count: number;
  evidence_query: string;
  incident_id?: string;
  updated_at: string | number;
}

export interface AlertFilter {
  state?: string;
  severity?: string;
  since?: number;
  limit?: number;
}

/** The slice of src/detect the server uses. */
interface DetectApi {
  listAlerts(db: string, filter?: AlertFilter): Promise<Alert[]>;
  setAlertState(db: string, id: string, state: 'acknowledged' | 'resolved', note?: string): Promise<Alert | void>;
  createStreamingDetector(o: { db: string; rulesDir?: string }): { onCommit(info: CommitInfo): Promise<void> | void; stop(): Promise<void> | void };
}

const DETECT_MODULE = new URL('../detect/index.ts', import.meta.url);

/**
 * Findings for the API and the dashboard, from the detection engine when it is part of this
 * build; without it every call answers "detection not available" rather than inventing data.
 */
export class Findings {
  private constructor(
    private readonly db: string,
    private readonly api: DetectApi | undefined,
    private readonly detector: ReturnType<DetectApi['createStreamingDetector']> | undefined,
    readonly reason: string | undefined,
  ) {}

  /**
   * Loads src/detect (a variable import: the server must build and run without it).
   * @example const f = await Findings.load('./flowlens.duckdb'); f.available
   */
  static async load(db: string, rulesDir?: string): Promise<Findings> {
    if (!existsSync(fileURLToPath(DETECT_MODULE))) return new Findings(db, undefined, undefined, 'detection not available: this build has no detection engine (src/detect)');
    let api: DetectApi;
    try {
      api = (await import(DETECT_MODULE.href)) as DetectApi;
    } catch (err) {
      return new Findings(db, undefined, undefined, `detection not available: ${(err as Error).message.split('\n')[0]}`);
    }
    if (typeof api.listAlerts !== 'function' || typeof api.setAlertState !== 'function') {
      return new Findings(db, undefined, undefined, 'detection not available: src/detect does not export listAlerts/setAlertState');
    }
    const detector = typeof api.createStreamingDetector === 'function' ? api.createStreamingDetector({ db, rulesDir }) : undefined;
    return new Findings(db, api, detector, undefined);
  }

  get available(): boolean {
    return this.api !== undefined;
  }

  list(filter: AlertFilter = {}): Promise<Alert[]> {
    return this.api ? this.api.listAlerts(this.db, filter) : Promise.resolve([]);
  }

  /** Acknowledges or resolves one alert; undefined when detection is not available. */
  async setState(id: string, state: 'acknowledged' | 'resolved', note?: string): Promise<Alert | undefined> {
    if (!this.api) return undefined;
    const r = await this.api.setAlertState(this.db, id, state, note);
    if (r) return r;
    return (await this.api.listAlerts(this.db, {})).find((a) => a.id === id);
  }

  /** Streaming detection follows every chunk live ingest commits. */
  async onCommit(info: CommitInfo): Promise<void> {
    await this.detector?.onCommit(info);
  }

  async stop(): Promise<void> {
    await this.detector?.stop();
  }
}

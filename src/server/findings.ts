import type { CommitInfo } from '../ingest/index.ts';
import { createStreamingDetector, listAlerts, setAlertState, type Alert } from '../detect/index.ts';

export type { Alert } from '../detect/index.ts';

export interface AlertFilter {
  state?: string;
  severity?: string;
  since?: number;
  limit?: number;
}

/**
 * Findings for the API and the dashboard: alerts kept in the store by the detection engine,
 * and streaming detection over every chunk live ingest commits.
 */
export class Findings {
  private detector: ReturnType<typeof createStreamingDetector> | undefined;
  /** Set when streaming detection failed; the API keeps serving stored alerts. */
  lastError: string | undefined;

  constructor(
    private readonly db: string,
    private readonly rulesDir?: string,
    private readonly streaming = true,
    /** Seconds from records arriving to every rule having evaluated them, per commit. */
    private readonly onEvaluated?: (latencies: number[]) => void,
  ) {}

  /** @example await findings.list({ state: 'open' }) */
  list(filter: AlertFilter = {}): Promise<Alert[]> {
    return listAlerts(this.db, filter);
  }

  /** Acknowledges or resolves one alert; undefined when there is no such alert. */
  setState(id: string, state: 'acknowledged' | 'resolved', note?: string): Promise<Alert | undefined> {
    return setAlertState(this.db, id, state, note);
  }

  /** Streaming detection follows every chunk live ingest commits (started on the first one). */
  async onCommit(info: CommitInfo, receivedAt?: number): Promise<void> {
    if (!this.streaming) return;
    this.detector ??= createStreamingDetector({
      db: this.db,
      rulesDir: this.rulesDir,
      onEvaluated: this.onEvaluated,
      onError: (err) => {
        this.lastError = err instanceof Error ? err.message : String(err);
      },
    });
    await this.detector.onCommit({ ...info, receivedAt });
  }

  /** Waits for detection passes in progress (tests, shutdown). */
  async idle(): Promise<void> {
    await this.detector?.idle();
  }

  async stop(): Promise<void> {
    await this.detector?.stop();
  }
}

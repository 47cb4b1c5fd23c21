import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fieldByName, awsParquetType } from '../../schema/columns.ts';
import type { FlowLogSpec } from '../model.ts';
import { stableHex } from '../prng.ts';
import { ByteBuf } from '../render.ts';
import { GzipBlocks } from './gzip-blocks.ts';
import { batchOf, utcParts, type Sink, type SinkOptions, type WindowRows } from './types.ts';

/**
 * The S3 object key AWS writes a flow log object under (reference section 3), plain or Hive.
 * @example s3Key({account: '123456789012', region: 'us-east-1', flowLogId: 'fl-1', batch: 1705276800, hash: 'ab12cd34', hive: false, hour: false, ext: 'log.gz'})
 */
export function s3Key(k: { prefix?: string; account: string; region: string; flowLogId: string; batch: number; hash: string; hive: boolean; hour: boolean; ext: string }): string {
  const t = utcParts(k.batch);
  const dir = k.hive
    ? `AWSLogs/aws-account-id=${k.account}/aws-service=vpcflowlogs/aws-region=${k.region}/year=${t.y}/month=${t.m}/day=${t.d}/${k.hour ? `hour=${t.h}/` : ''}`
    : `AWSLogs/${k.account}/vpcflowlogs/${k.region}/${t.y}/${t.m}/${t.d}/`;
  const prefix = k.prefix ? k.prefix.replace(/\/*$/, '/') : '';
  return `${prefix}${dir}${k.account}_vpcflowlogs_${k.region}_${k.flowLogId}_${t.y}${t.m}${t.d}T${t.h}${t.min}Z_${k.hash}.${k.ext}`;
}

interface OpenObject {
  batch: number;
  part: number;
  path: string;
  textBytes: number;
  gz?: GzipBlocks;
  /** Parquet objects are staged as text, then converted by DuckDB when closed. */
  stage?: string[];
  flowLogId: string;
  fields: readonly string[];
}

const ROWS_PER_CHUNK = 8192;

/**
 * Writes gzip text (`.log.gz`, header line first) or Parquet (`.log.parquet`) objects in the S3
 * layout: one object per flow log per 5-minute batch, a new part past the size cap.
 */
export class S3Sink implements Sink {
  private open = new Map<string, OpenObject>();
  private files: string[] = [];
  private buf = new ByteBuf(1 << 21);
  private parquetSeq = 0;
  /** Objects still compressing their last blocks while the run goes on. */
  private closing: Promise<void>[] = [];

  constructor(private readonly o: SinkOptions) {}

  private isParquet(fl: FlowLogSpec): boolean {
    return this.o.parquet ?? fl.destination.fileFormat === 'parquet';
  }

  private async start(w: WindowRows, batch: number, part: number): Promise<OpenObject> {
    const fl = w.flowLog;
    const parquet = this.isParquet(fl);
    const key = s3Key({
      prefix: fl.destination.prefix,
      account: this.o.topo.account,
      region: this.o.topo.region,
      flowLogId: fl.id,
      batch,
      hash: stableHex(`${this.o.seed}|${fl.id}|${batch}|${part}`, 8),
      hive: this.o.hive ?? fl.destination.hive,
      hour: fl.destination.perHourPartition,
      ext: parquet ? 'log.parquet' : 'log.gz',
    });
    const path = join(this.o.out, key);
    await mkdir(dirname(path), { recursive: true });
    const obj: OpenObject = { batch, part, path, textBytes: 0, flowLogId: fl.id, fields: fl.fields };
    if (parquet) obj.stage = [];
    else obj.gz = await GzipBlocks.create(path, this.o.gzipLevel);
    await this.push(obj, w.renderer.header);
    return obj;
  }

  private async push(obj: OpenObject, chunk: Buffer): Promise<void> {
    obj.textBytes += chunk.length;
    if (obj.stage) obj.stage.push(chunk.toString('latin1'));
    else await obj.gz!.write(chunk);
  }

  async write(w: WindowRows): Promise<void> {
    const fl = w.flowLog;
    const batch = batchOf(w.windowEnd);
    let obj = this.open.get(fl.id);
    if (obj && obj.batch !== batch) {
      await this.finish(obj);
      obj = undefined;
    }
    obj ??= await this.start(w, batch, 0);
    this.open.set(fl.id, obj);
    for (let i = 0; i < w.count; i += ROWS_PER_CHUNK) {
      w.renderer.render(w.table, i, Math.min(w.count, i + ROWS_PER_CHUNK), this.buf, w.rows);
      // A view of the reused buffer: push() copies (or stages) it before the next render.
      const b = this.buf.buf.subarray(0, this.buf.pos);
      this.buf.pos = 0;
      let off = 0;
      while (off < b.length) {
        // AWS caps objects at 75 MB; the cap is applied to the text so splits are deterministic.
        const room = this.o.maxObjectBytes - obj.textBytes;
        if (room <= 0 && obj.textBytes > w.renderer.header.length) {
          await this.finish(obj);
          obj = await this.start(w, batch, obj.part + 1);
          this.open.set(fl.id, obj);
          continue;
        }
        let end = b.length;
        if (end - off > room) {
          end = b.lastIndexOf(10, off + Math.max(0, room) - 1) + 1;
          if (end <= off) end = b.indexOf(10, off) + 1;
        }
        await this.push(obj, end - off === b.length ? b : b.subarray(off, end));
        off = end;
      }
    }
  }

  private async finish(obj: OpenObject): Promise<void> {
    this.open.delete(obj.flowLogId);
    this.files.push(obj.path);
    if (obj.gz) {
      // The run goes on while the object's last blocks compress; two such objects at most.
      this.closing.push(obj.gz.close());
      if (this.closing.length > 2) await this.closing.shift();
      return;
    }
    await writeParquet(obj.path, obj.fields, obj.stage!.join(''), `${obj.path}.${this.parquetSeq++}.stage.txt`);
  }

  async close(): Promise<string[]> {
    for (const obj of [...this.open.values()]) await this.finish(obj);
    await Promise.all(this.closing.splice(0));
    return this.files.sort();
  }
}

let duck: Promise<import('@duckdb/node-api').DuckDBConnection> | undefined;

async function connection(): Promise<import('@duckdb/node-api').DuckDBConnection> {
  duck ??= (async () => {
    const { DuckDBInstance } = await import('@duckdb/node-api');
    const db = await DuckDBInstance.create(':memory:', { threads: '1' });
    return db.connect();
  })();
  return duck;
}

const DUCK_TYPE = { INT32: 'INTEGER', INT64: 'BIGINT', STRING: 'VARCHAR' } as const;

/**
 * Converts staged text to a Parquet object with AWS's column types (INT32/INT64/STRING) and
 * Athena's column names, through DuckDB's COPY.
 */
async function writeParquet(path: string, fields: readonly string[], text: string, stagePath: string): Promise<void> {
  await writeFile(stagePath, text);
  try {
    const conn = await connection();
    const q = (s: string) => `'${s.replace(/'/g, "''")}'`;
    const columns = fields.map((f) => {
      const def = fieldByName(f);
      return `${q(f)}: ${q(def ? DUCK_TYPE[awsParquetType(def)] : 'VARCHAR')}`;
    });
    const select = fields.map((f) => `"${f}" AS "${(fieldByName(f)?.column ?? f.replace(/-/g, '_')).replace(/"/g, '')}"`).join(', ');
    await conn.run(
      `COPY (SELECT ${select} FROM read_csv(${q(stagePath)}, delim=' ', header=true, nullstr='-', quote='', escape='', auto_detect=false, columns={${columns.join(', ')}})) TO ${q(path)} (FORMAT parquet, COMPRESSION gzip)`,
    );
  } catch (err) {
    throw new Error(`cannot write Parquet object ${path}: ${(err as Error).message}`, { cause: err });
  } finally {
    await rm(stagePath, { force: true });
  }
}

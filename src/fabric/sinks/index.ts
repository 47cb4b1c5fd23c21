import type { Delivery } from '../config.ts';
import { CloudWatchSink, CloudWatchSubscriptionSink } from './cloudwatch.ts';
import { FirehoseSink } from './firehose.ts';
import { S3Sink } from './s3.ts';
import type { Sink, SinkOptions } from './types.ts';

/** Every delivery shape, by name. */
export const SINKS: Record<Delivery, (o: SinkOptions) => Sink> = {
  s3: (o) => new S3Sink(o),
  's3-hive': (o) => new S3Sink({ ...o, hive: true }),
  parquet: (o) => new S3Sink({ ...o, parquet: true }),
  cloudwatch: (o) => new CloudWatchSink(o),
  'cloudwatch-subscription': (o) => new CloudWatchSubscriptionSink(o),
  firehose: (o) => new FirehoseSink(o),
};

/**
 * The sink for a delivery shape.
 * @example createSink('s3', {out: './flowlogs', topo, seed: 1, gzipLevel: 6, maxObjectBytes: 75e6})
 */
export function createSink(delivery: Delivery, o: SinkOptions): Sink {
  return SINKS[delivery](o);
}

export type { Sink, SinkOptions, WindowRows } from './types.ts';
export { s3Key } from './s3.ts';

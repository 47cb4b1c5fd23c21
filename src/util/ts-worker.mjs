// Entry of flowlens's worker threads: a worker starts without the parent's TypeScript loader,
// so it registers tsx itself, then loads the TypeScript module named in workerData.module.
import { register } from 'tsx/esm/api';
import { workerData } from 'node:worker_threads';

register();
await import(workerData.module);

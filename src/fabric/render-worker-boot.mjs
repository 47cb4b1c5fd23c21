// A worker thread inherits the parent's TypeScript loader when the parent was started with it
// (`tsx script.ts`), not when the parent registered it in-process (bin/flowlens.js, vitest);
// then the render thread is loaded through tsx's scoped import.
try {
  await import('./render-worker.ts');
} catch (err) {
  if (err?.code !== 'ERR_UNKNOWN_FILE_EXTENSION') throw err;
  const { tsImport } = await import('tsx/esm/api');
  await tsImport('./render-worker.ts', import.meta.url);
}

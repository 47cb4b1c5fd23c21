/** Placeholder until the describe-* importer lands. */
export function importDescribeDir(dir: string): { doc: unknown; file: string } {
  throw new Error(`describe-* import is not implemented yet (${dir})`);
}

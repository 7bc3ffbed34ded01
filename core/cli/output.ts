/**
 * Output files: checked before any work (a run of minutes must not end in EISDIR), and written
 * atomically (a temporary file in the same directory, then a rename), so a reader never sees a
 * half-written report and a failed write leaves nothing behind.
 */

import {
  closeSync,
  mkdirSync,
  openSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { describeThrown, InputError } from "../input/errors.ts";

/** Checks that `--flag path` names a file this process can create or replace. @throws InputError */
export function checkOutputPath(flag: string, path: string | undefined, cwd: string): void {
  if (path === undefined) return;
  if (path.trim() === "") throw new InputError(`--${flag} "": expected a file path`);
  const full = resolve(cwd, path);
  const st = statOf(full);
  if (st?.isDirectory())
    throw new InputError(
      `--${flag} ${path}: is a directory; give a file path such as ${join(path, `report.${flag === "report" ? "html" : "json"}`)}`,
    );
  // Missing directories are created when the report is written: find the deepest that exists.
  let dir = dirname(full);
  let dst = statOf(dir);
  while (dst === undefined && dirname(dir) !== dir) {
    dir = dirname(dir);
    dst = statOf(dir);
  }
  if (dst === undefined || !dst.isDirectory())
    throw new InputError(`--${flag} ${path}: ${dir} is not a directory`);
  if (st !== undefined && !st.isFile())
    throw new InputError(`--${flag} ${path}: not a regular file; give a file path`);
  // The report is renamed into place from a temporary file, so that file must be creatable.
  const probe = join(dir, `.${basename(full)}.${process.pid}.tmp`);
  try {
    closeSync(openSync(probe, "wx"));
    unlinkSync(probe);
  } catch (e) {
    throw new InputError(
      `--${flag} ${path}: cannot write in ${dir} (${(e as { code?: string }).code ?? describeThrown(e)})`,
    );
  }
}

/**
 * Checks each output flag's path (see `checkOutputPath`) and that no two name one file: the
 * later write would replace the earlier report. @throws InputError
 */
export function checkOutputPaths(flags: Record<string, string | undefined>, cwd: string): void {
  const taken = new Map<string, string>();
  for (const [flag, path] of Object.entries(flags)) {
    checkOutputPath(flag, path, cwd);
    if (path === undefined) continue;
    const full = resolve(cwd, path);
    const other = taken.get(full);
    if (other !== undefined)
      throw new InputError(`--${flag} ${path}: the same file as --${other}; give each its own`);
    taken.set(full, flag);
  }
}

/** The file's stat, or undefined when nothing is there (also when a parent is a file). */
function statOf(path: string) {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

const tempPath = (path: string) => join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);

/**
 * Writes `text` to `path` atomically: into a temporary file beside it, then renamed over it.
 * Missing directories are created first. On failure the temporary file is removed and the
 * error rethrown.
 */
export function writeAtomic(path: string, text: string): void {
  const tmp = tempPath(path);
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(tmp, text);
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      // never created
    }
    throw e;
  }
}
